//! The hardware side of the system, all pure (no I/O in codecs; time is passed in):
//!
//! * [`corometrics`]: the GE Corometrics 115-compatible serial protocol, decoder and encoder.
//! * [`ble`]: Bluetooth LE codecs: IEEE 11073 SFLOAT, Blood Pressure Measurement (0x2A35),
//!   Record Access Control Point (0x2A52), and our open GATT profile for wireless CTG probes.
//! * [`datasets`]: readers for the FHRMA and CTU-UHB recordings, for replay and evaluation.
//! * [`sim`]: a deterministic CTG simulator with named clinical scenarios and wire faults.
//! * [`plot`]: renders a trace on a standard CTG grid to PNG.
//!
//! The `ctg-sim` binary exposes the simulator and codecs to people testing hardware.

pub mod ble;
pub mod corometrics;
pub mod datasets;
pub mod plot;
pub mod sim;
