//! Android: the platform part of the app, called by `android_main` (android/main.rs). Built only
//! for Android with the `android` feature (Slint's android-activity backend); see README.md.

/// Starts Slint on the activity and runs the app until Android closes it.
#[cfg(all(target_os = "android", feature = "android"))]
pub fn run(android_app: slint::android::AndroidApp) {
    use std::rc::Rc;
    use std::sync::Arc;

    let data_dir = android_app.internal_data_path();
    if let Err(e) = slint::android::init(android_app) {
        eprintln!("mobile-app: cannot start Slint on Android: {e}");
        return;
    }
    let options = crate::AppOptions {
        data_dir,
        config: crate::config::AppConfig::default(),
        clock: Arc::new(crate::clock::SystemClock),
        links: crate::ble::platform_link_factory(),
        // Opening the dialler needs an ACTION_DIAL intent through JNI (README.md, "Not done yet").
        dialer: Rc::new(|number| eprintln!("mobile-app: call {number}")),
        language: None,
    };
    match crate::App::new(options) {
        Ok(app) => {
            if let Err(e) = app.run() {
                eprintln!("mobile-app: {e}");
            }
        }
        Err(e) => eprintln!("mobile-app: {e}"),
    }
}
