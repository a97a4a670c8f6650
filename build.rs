//! Compiles vigil's video file decoder (src/source/decoder.c) and annotated-video encoder
//! (src/sink/encoder.c) against the FFmpeg libraries OpenCV's video I/O already uses.

fn main() {
    println!("cargo:rerun-if-changed=src/source/decoder.c");
    println!("cargo:rerun-if-changed=src/sink/encoder.c");
    let mut build = cc::Build::new();
    for lib in ["libavformat", "libavcodec", "libavutil", "libswscale"] {
        let found = pkg_config::Config::new()
            .probe(lib)
            .unwrap_or_else(|e| panic!("{lib} (apt install libavformat-dev): {e}"));
        for dir in found.include_paths {
            build.include(dir);
        }
        // pkg-config has told cargo to link the library itself.
    }
    build
        .file("src/source/decoder.c")
        .file("src/sink/encoder.c")
        .warnings(true)
        .compile("vigil_ffmpeg");
}
