//! The zero-setup path: with no server configured, a command finds or starts the
//! embedded server of its folder, which exits by itself once idle; `cairn server
//! status|stop` show and stop it. And the maintenance commands that name a store:
//! migrate, back up, restore.

use crate::common::{cairn, command};
use std::time::{Duration, Instant};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn marker_pid(home: &std::path::Path) -> Option<i32> {
    let text = std::fs::read_to_string(home.join("server.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["pid"].as_i64().map(|p| p as i32)
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

#[tokio::test]
async fn a_command_starts_the_embedded_server_which_exits_once_idle() {
    let home = tempfile::tempdir().unwrap();
    let out = cairn(home.path(), &["server", "status"]);
    assert!(stdout(&out).contains("No Cairn server is running"), "{}", stdout(&out));
    // A command starts one (idle exit after 2 s here) and gets its answer.
    let out = command(home.path()).env("CAIRN_IDLE_EXIT", "2s").args(["ls"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("No runs yet"));
    let pid = marker_pid(home.path()).expect("the embedded server wrote server.json");
    assert!(alive(pid));
    let out = cairn(home.path(), &["server", "status"]);
    let text = stdout(&out);
    assert!(text.contains("this folder's embedded server") && text.contains("after 2 s idle"), "{text}");
    // A second command reuses it.
    let out = cairn(home.path(), &["projects"]);
    assert!(out.status.success());
    assert_eq!(marker_pid(home.path()), Some(pid));
    // Idle, with no open run: it exits by itself and removes its record.
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!alive(pid), "the embedded server is still up after its idle time");
    assert!(marker_pid(home.path()).is_none(), "server.json is removed when it exits");
}

#[tokio::test]
async fn an_open_run_keeps_the_embedded_server_up_and_stop_stops_it() {
    let home = tempfile::tempdir().unwrap();
    let sdk = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/python");
    // A run that stays open quietly (no requests) past the idle time.
    let script = "import cairn, time; r = cairn.init(project='p', hypothesis='h'); time.sleep(4); r.finish()";
    let mut child = command(home.path())
        .env("CAIRN_IDLE_EXIT", "1s")
        .env("PYTHONPATH", sdk)
        .env("CAIRN_BIN", crate::common::BIN)
        .args(["run", "--hypothesis", "h", "--", "python3", "-c", script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    let pid = marker_pid(home.path()).expect("a server");
    assert!(alive(pid), "open runs kept it up while they ran");
    let out = cairn(home.path(), &["server", "stop"]);
    assert!(
        stdout(&out).contains("Stopped the Cairn server"),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!alive(pid));
    let out = cairn(home.path(), &["server", "stop"]);
    assert!(stdout(&out).contains("No Cairn server is running"), "{}", stdout(&out));
}

#[tokio::test]
async fn stop_refuses_a_server_elsewhere() {
    let home = tempfile::tempdir().unwrap();
    let out = cairn(home.path(), &["--server", "http://127.0.0.1:9", "server", "stop"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stop it where it runs"));
}

#[tokio::test]
async fn a_store_is_backed_up_and_restored_whole() {
    let home = tempfile::tempdir().unwrap();
    let store = home.path().join("cairn.db");
    let store_s = store.to_str().unwrap();
    let out = cairn(home.path(), &["run", "--project", "b", "--hypothesis", "kept", "--", "true"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // While the server runs: a consistent copy.
    let backup = home.path().join("backup.db");
    let out = cairn(home.path(), &["admin", "backup", "--store", store_s, "--to", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("artifact(s)"), "{}", stdout(&out));
    let out = cairn(home.path(), &["admin", "backup", "--store", store_s, "--to", backup.to_str().unwrap()]);
    assert!(!out.status.success(), "an existing file is not overwritten");
    // Restoring over a store in use is refused.
    let out =
        cairn(home.path(), &["admin", "restore", "--store", store_s, "--from", backup.to_str().unwrap(), "--force"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cairn server stop"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cairn(home.path(), &["server", "stop"]).status.success());
    // Another run, then the backup back: the store holds what it held.
    let out = cairn(home.path(), &["run", "--project", "b", "--hypothesis", "lost", "--", "echo", "lost"]);
    assert!(out.status.success());
    assert!(cairn(home.path(), &["server", "stop"]).status.success());
    let out = cairn(home.path(), &["admin", "restore", "--store", store_s, "--from", backup.to_str().unwrap()]);
    assert!(!out.status.success(), "a store with runs needs --force");
    let out =
        cairn(home.path(), &["admin", "restore", "--store", store_s, "--from", backup.to_str().unwrap(), "--force"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("1 run(s)"), "{}", stdout(&out));
    let out = cairn(home.path(), &["ls", "--project", "b", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hyps: Vec<&str> = v["runs"].as_array().unwrap().iter().map(|r| r["hypothesis"].as_str().unwrap()).collect();
    assert_eq!(hyps, ["kept"]);
    let out = cairn(home.path(), &["admin", "migrate", "--store", store_s]);
    assert!(stdout(&out).contains("schema up to date"), "{}", stdout(&out));
    assert!(cairn(home.path(), &["server", "stop"]).status.success());
}
