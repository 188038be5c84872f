//! The phone's (or computer's) microphone through cpal: ALSA on Linux, AAudio on Android. cpal's
//! stream must stay on the thread that built it on some platforms, so a recording runs on its own
//! thread, which keeps the samples in memory only and hands them back as a WAV file on "stop".

use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SizedSample};

use super::recorder::{RecordError, Recorder};
use super::{MAX_DICTATION_S, wav};

/// What the recording thread hands back: mono 16-bit samples and their rate.
type Captured = Result<(Vec<i16>, u32), RecordError>;
/// The samples captured so far, shared with the audio callback.
type Buffer = Arc<Mutex<Vec<i16>>>;

/// The default input device of the default audio host.
#[derive(Debug, Default)]
pub struct Microphone {
    running: Option<(mpsc::Sender<()>, JoinHandle<Captured>)>,
}

impl Microphone {
    pub fn new() -> Self {
        Self::default()
    }
}

fn unavailable(e: impl std::fmt::Display) -> RecordError {
    RecordError::Unavailable(e.to_string())
}

/// Builds an input stream that mixes each frame down to mono 16-bit into `sink`, stopping at
/// the longest dictation the drafter accepts.
fn stream_of<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    sink: Buffer,
) -> Result<cpal::Stream, RecordError>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let limit = (f64::from(config.sample_rate.0) * MAX_DICTATION_S) as usize;
    device
        .build_input_stream(
            config,
            move |data: &[T], _: &cpal::InputCallbackInfo| {
                let mut out = sink.lock().unwrap_or_else(|p| p.into_inner());
                for frame in data.chunks(channels) {
                    if out.len() >= limit {
                        return;
                    }
                    let sum: f32 = frame.iter().map(|s| f32::from_sample(*s)).sum();
                    let mono = (sum / frame.len() as f32).clamp(-1.0, 1.0);
                    out.push((mono * f32::from(i16::MAX)) as i16);
                }
            },
            |e| tracing::warn!("microphone: {e}"),
            None,
        )
        .map_err(unavailable)
}

/// Opens the default input device and starts capturing.
fn open() -> Result<(cpal::Stream, Buffer, u32), RecordError> {
    let host = cpal::default_host();
    let device = host.default_input_device().ok_or_else(|| unavailable("no input device"))?;
    let supported = device.default_input_config().map_err(unavailable)?;
    let format = supported.sample_format();
    let config: cpal::StreamConfig = supported.into();
    let sink = Arc::new(Mutex::new(Vec::new()));
    let s = sink.clone();
    let stream = match format {
        cpal::SampleFormat::F32 => stream_of::<f32>(&device, &config, s),
        cpal::SampleFormat::I16 => stream_of::<i16>(&device, &config, s),
        cpal::SampleFormat::U16 => stream_of::<u16>(&device, &config, s),
        cpal::SampleFormat::I32 => stream_of::<i32>(&device, &config, s),
        other => Err(unavailable(format!("unsupported sample format {other}"))),
    }?;
    stream.play().map_err(unavailable)?;
    Ok((stream, sink, config.sample_rate.0))
}

fn record(stop: mpsc::Receiver<()>, started: mpsc::Sender<Result<(), RecordError>>) -> Captured {
    let (stream, sink, rate) = match open() {
        Ok(v) => {
            let _ = started.send(Ok(()));
            v
        }
        Err(e) => {
            let _ = started.send(Err(e.clone()));
            return Err(e);
        }
    };
    // Until "stop" (or the recorder is dropped, which closes the channel).
    let _ = stop.recv();
    drop(stream);
    let samples = std::mem::take(&mut *sink.lock().unwrap_or_else(|p| p.into_inner()));
    Ok((samples, rate))
}

impl Recorder for Microphone {
    fn start(&mut self) -> Result<(), RecordError> {
        if self.running.is_some() {
            return Err(RecordError::AlreadyStarted);
        }
        let (stop_tx, stop_rx) = mpsc::channel();
        let (started_tx, started_rx) = mpsc::channel();
        let handle = std::thread::spawn(move || record(stop_rx, started_tx));
        match started_rx.recv() {
            Ok(Ok(())) => {
                self.running = Some((stop_tx, handle));
                Ok(())
            }
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => Err(unavailable("the recording thread ended")),
        }
    }

    fn stop(&mut self) -> Result<Vec<u8>, RecordError> {
        let (stop, handle) = self.running.take().ok_or(RecordError::NotStarted)?;
        let _ = stop.send(());
        let (samples, rate) =
            handle.join().map_err(|_| unavailable("the recording thread failed"))??;
        if samples.is_empty() {
            return Err(unavailable("nothing was recorded"));
        }
        wav::encode_pcm16(&samples, rate, 1).ok_or_else(|| unavailable("recording too long"))
    }
}

impl Drop for Microphone {
    fn drop(&mut self) {
        // A recording she walked away from is stopped and thrown away.
        if let Some((stop, handle)) = self.running.take() {
            let _ = stop.send(());
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_without_start_is_an_error_not_a_panic() {
        let mut m = Microphone::new();
        assert_eq!(m.stop(), Err(RecordError::NotStarted));
    }

    /// Build machines have no sound card: starting must fail with a clear "no microphone",
    /// or, where one exists, record and stop cleanly.
    #[test]
    fn starting_without_a_sound_card_says_so() {
        let mut m = Microphone::new();
        match m.start() {
            Err(RecordError::Unavailable(why)) => assert!(!why.is_empty()),
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(()) => match m.stop() {
                Ok(wav) => assert!(wav::looks_like_wav(&wav)),
                Err(RecordError::Unavailable(_)) => {}
                Err(other) => panic!("unexpected error {other:?}"),
            },
        }
    }
}
