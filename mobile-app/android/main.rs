//! The Android entry point: Android loads this shared library and android-activity calls
//! `android_main`. Everything else is the library (`mobile_app::android::run`). Build with
//! cargo-apk or xbuild and the `android` feature (README.md, "Android"); on the desktop this
//! example compiles to an empty library.

#[cfg(all(target_os = "android", feature = "android"))]
// The Android glue finds the entry point by its unmangled name.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
fn android_main(app: slint::android::AndroidApp) {
    mobile_app::android::run(app);
}
