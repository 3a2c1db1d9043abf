//! What `cairn run` records about where a command ran: operating system and kernel,
//! host and user, CPU model and cores, memory, whether it ran in a container, the
//! Python interpreter and its installed packages (when the command is Python), and
//! environment variables on an allow-list — never secrets.
//!
//! Everything here is best effort: what cannot be read is left out, never guessed.
//! [`data`] fingerprints datasets by content; [`code`] describes the git repository.

pub mod code;
pub mod container;
pub mod data;
pub mod gpu;
pub mod resources;

use serde_json::{Map, Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Variables recorded because they change how training behaves.
const ENV_PREFIXES: &[&str] =
    &["CUDA_", "CUBLAS_", "CUDNN_", "NCCL_", "OMP_", "MKL_", "OPENBLAS_", "TORCH_", "TF_", "XLA_", "JAX_", "SLURM_"];
const ENV_NAMES: &[&str] = &["PYTHONHASHSEED", "CAIRN_SEED", "VIRTUAL_ENV", "CONDA_DEFAULT_ENV"];
/// Never recorded, whatever the prefix says.
const SECRET_MARKS: &[&str] = &["TOKEN", "SECRET", "KEY", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH"];

/// The allow-listed subset of `vars`.
pub fn allowed_env(vars: impl IntoIterator<Item = (String, String)>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in vars {
        let upper = k.to_ascii_uppercase();
        let allowed = ENV_NAMES.contains(&upper.as_str()) || ENV_PREFIXES.iter().any(|p| upper.starts_with(p));
        let secret = SECRET_MARKS.iter().any(|m| upper.contains(m));
        if allowed && !secret {
            out.insert(k, json!(v));
        }
    }
    out
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn os_release_name() -> Option<String> {
    let text = read("/etc/os-release")?;
    text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_owned())
}

fn cpu_model() -> Option<String> {
    read("/proc/cpuinfo")?
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_owned()))
}

fn memory_bytes() -> Option<u64> {
    let kb: u64 = read("/proc/meminfo")?
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The interpreter a command runs, when it is Python (`python`, `python3.11`, a path to one).
pub fn python_of(command: &[String]) -> Option<&str> {
    let first = command.first()?;
    let base = std::path::Path::new(first).file_name()?.to_str()?;
    base.starts_with("python").then_some(first.as_str())
}

const PROBE: &str = "import sys, json, importlib.metadata as m\n\
print(json.dumps({'version': sys.version.split()[0], 'executable': sys.executable, \
'packages': sorted({(d.metadata['Name'] or '?') + '==' + d.version for d in m.distributions()}, key=str.lower)}))";

/// Version, executable and installed packages (`name==version`, as `pip freeze` lists
/// them) of a Python interpreter; `None` if it does not answer within a few seconds.
pub fn python(interpreter: &str) -> Option<Value> {
    let mut child = Command::new(interpreter)
        .args(["-c", PROBE])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    serde_json::from_str(&out).ok()
}

/// Everything recorded about the machine and environment `command` runs in.
pub fn environment(command: &[String]) -> Value {
    let mut env = Map::new();
    let uts = nix::sys::utsname::uname().ok();
    env.insert(
        "os".into(),
        json!({
            "family": std::env::consts::OS,
            "name": os_release_name(),
            "kernel": uts.as_ref().map(|u| u.release().to_string_lossy().into_owned()),
            "arch": std::env::consts::ARCH,
        }),
    );
    env.insert(
        "host".into(),
        json!({
            "hostname": nix::unistd::gethostname().ok().map(|h| h.to_string_lossy().into_owned()),
            "user": nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.name),
        }),
    );
    env.insert("container".into(), container::describe());
    env.insert(
        "cpu".into(),
        json!({
            "model": cpu_model(),
            "cores": std::thread::available_parallelism().ok().map(|n| n.get()),
        }),
    );
    env.insert("memory_bytes".into(), json!(memory_bytes()));
    env.insert("gpus".into(), gpu::describe());
    if let Some(py) = python_of(command).and_then(python) {
        env.insert("python".into(), py);
    }
    env.insert("env".into(), Value::Object(allowed_env(std::env::vars())));
    Value::Object(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_variables_and_never_secrets() {
        let vars = [
            ("CUDA_VISIBLE_DEVICES", "0,1"),
            ("OMP_NUM_THREADS", "4"),
            ("PYTHONHASHSEED", "7"),
            ("HOME", "/root"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("TORCH_HUB_TOKEN", "x"),
            ("NCCL_AUTH_KEY", "x"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let got = allowed_env(vars);
        let keys: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "PYTHONHASHSEED"]);
    }

    #[test]
    fn python_commands_are_recognised() {
        let cmd = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(python_of(&cmd(&["python3", "train.py"])), Some("python3"));
        assert_eq!(python_of(&cmd(&["/opt/venv/bin/python", "x.py"])), Some("/opt/venv/bin/python"));
        assert_eq!(python_of(&cmd(&["sh", "-c", "python x"])), None);
    }

    #[test]
    fn describes_this_machine() {
        let env = environment(&["python3".to_owned()]);
        assert_eq!(env["os"]["family"], std::env::consts::OS);
        assert!(env["cpu"]["cores"].as_u64().unwrap() >= 1);
        assert!(env["memory_bytes"].as_u64().unwrap() > 0);
        let py = &env["python"];
        assert!(py["version"].as_str().unwrap().starts_with('3'), "{py}");
        assert!(
            py["packages"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().to_lowercase().starts_with("pip=="))
        );
    }
}
