//! Helpers shared by the tests: the vendored data, the binary, one-line errors.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The vendored CIFAR-10 slice.
pub fn golden_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/data")
}

/// A writable copy of the vendored `cifar-10-batches-bin` folder inside `dir`.
pub fn copy_golden(dir: &Path) -> PathBuf {
    let dest = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(golden_data().join("cifar-10-batches-bin")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
    }
    dest
}

/// Packs a folder's files as `cifar-10-batches-bin/NAME` members of a `.tar.gz`.
pub fn pack_tar_gz(folder: &Path, archive: &Path, names: &[&str]) {
    let file = std::fs::File::create(archive).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for name in names {
        tar.append_path_with_name(folder.join(name), format!("cifar-10-batches-bin/{name}"))
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// Every file of a complete set.
pub const ALL_FILES: [&str; 7] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
    "batches.meta.txt",
];

/// Runs the `cifar-repro` binary.
pub fn cli(args: &[&str]) -> Output {
    cli_command(args).output().unwrap()
}

/// The `cifar-repro` binary with `args`, to add environment before running it.
pub fn cli_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cifar-repro"));
    command.args(args);
    command
}

/// Runs `cifar-repro verify A B`: whether it found the runs bit-identical, and its stdout.
pub fn verify(a: &Path, b: &Path) -> (bool, String) {
    let out = cli(&["verify", a.to_str().unwrap(), b.to_str().unwrap()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Asserts a failed run whose error is one line (`cifar-repro: error: ...`) containing every
/// one of `needles`; progress lines before it are allowed.
pub fn assert_one_line_error(output: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("cifar-repro: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "expected one error line, got: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().last(),
        Some(errors[0]),
        "error is not the last line: {stderr}"
    );
    for needle in needles {
        assert!(errors[0].contains(needle), "{needle:?} not in: {stderr}");
    }
}

/// Serves `body` on 127.0.0.1 to each of `requests` connections, then stops; returns the URL
/// of `name` there (any path gets the same body).
pub fn serve(body: Vec<u8>, requests: usize, name: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/{name}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        }
    });
    url
}

/// Runs `cifar-repro ARGS` with the test hook `CIFAR_REPRO_KILL_BEFORE_RENAME=point` and
/// asserts that it died of SIGKILL there.
pub fn killed_before_rename<S: AsRef<std::ffi::OsStr>>(args: &[S], point: &str) {
    use std::os::unix::process::ExitStatusExt;
    let status = Command::new(env!("CARGO_BIN_EXE_cifar-repro"))
        .args(args)
        .env("CIFAR_REPRO_KILL_BEFORE_RENAME", point)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(9), "{point}: not killed");
}
