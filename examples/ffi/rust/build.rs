// SPDX-License-Identifier: MIT
//! Links libsaq as pkg-config finds it (PKG_CONFIG_PATH for a prefix of your own), with an
//! rpath to its directory so the program runs without LD_LIBRARY_PATH.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let out = Command::new("pkg-config")
        .args(["--variable=libdir", "libsaq"])
        .output()
        .expect("pkg-config is not installed");
    if !out.status.success() {
        panic!(
            "pkg-config cannot find libsaq (set PKG_CONFIG_PATH to the directory of libsaq.pc): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let libdir = String::from_utf8(out.stdout).expect("pkg-config output is not UTF-8");
    let libdir = libdir.trim();
    println!("cargo:rustc-link-search=native={}", libdir);
    println!("cargo:rustc-link-lib=dylib=saq");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", libdir);
}
