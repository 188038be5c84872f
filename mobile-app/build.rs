//! Compiles the Slint UI with the bundled translations. Debug builds (the ones tests use) also get
//! Slint's element debug info, which the testing backend needs to find elements by id.

fn main() {
    let debug_build = std::env::var("PROFILE").is_ok_and(|p| p == "debug");
    let config = slint_build::CompilerConfiguration::new()
        .with_bundled_translations("translations")
        .with_default_translation_context(slint_build::DefaultTranslationContext::None)
        .with_debug_info(debug_build);
    if let Err(e) = slint_build::compile_with_config("ui/app.slint", config) {
        // A build script reports through stderr and its exit status.
        eprintln!("Slint compilation failed: {e}");
        std::process::exit(1);
    }
}
