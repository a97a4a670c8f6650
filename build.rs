//! Compiles the small C reader of container timestamps (src/source/packet_times.c) against the
//! FFmpeg libraries OpenCV's video I/O already uses.

fn main() {
    println!("cargo:rerun-if-changed=src/source/packet_times.c");
    let mut build = cc::Build::new();
    for lib in ["libavformat", "libavcodec", "libavutil"] {
        let found = pkg_config::Config::new()
            .probe(lib)
            .unwrap_or_else(|e| panic!("{lib} (apt install libavformat-dev): {e}"));
        for dir in found.include_paths {
            build.include(dir);
        }
    }
    build
        .file("src/source/packet_times.c")
        .warnings(true)
        .compile("vigil_packet_times");
}
