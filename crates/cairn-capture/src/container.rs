//! Whether the command runs in a container, which runtime, and the container's and its
//! image's identity where the runtime makes them visible from inside.

use serde_json::{Value, json};

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The first 64-hex-digit id that follows a runtime's marker in `text`.
fn id_after(text: &str, markers: &[&str]) -> Option<String> {
    for m in markers {
        for (pos, _) in text.match_indices(m) {
            let rest = &text[pos + m.len()..];
            let id: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            if id.len() == 64 {
                return Some(id);
            }
        }
    }
    None
}

/// Reads `key="value"` from podman's `/run/.containerenv`.
fn containerenv(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// Describes the container, or `null` outside one.
pub fn describe() -> Value {
    let cgroup = read("/proc/self/cgroup").unwrap_or_default();
    let mountinfo = read("/proc/self/mountinfo").unwrap_or_default();
    let podman = read("/run/.containerenv");
    let kubernetes = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let docker = std::path::Path::new("/.dockerenv").exists()
        || cgroup.contains("docker")
        || mountinfo.contains("/docker/containers/");
    let runtime = if podman.is_some() {
        "podman"
    } else if kubernetes || cgroup.contains("kubepods") {
        "kubernetes"
    } else if docker {
        "docker"
    } else if cgroup.contains("containerd") {
        "containerd"
    } else if read("/proc/1/environ").is_some_and(|e| e.contains("container=lxc")) {
        "lxc"
    } else {
        return Value::Null;
    };
    let id = id_after(&mountinfo, &["/docker/containers/", "/containers/overlay-containers/", "/sandboxes/"])
        .or_else(|| id_after(&cgroup, &["docker-", "/docker/", "cri-containerd-", "crio-", "libpod-"]));
    let (mut image, mut image_id) = (None, None);
    if let Some(text) = &podman {
        image = containerenv(text, "image");
        image_id = containerenv(text, "imageid");
    }
    // Schedulers and CI systems commonly pass the image down in the environment.
    for var in ["CONTAINER_IMAGE", "IMAGE_NAME", "DOCKER_IMAGE", "SINGULARITY_NAME", "APPTAINER_NAME"] {
        if image.is_none() {
            image = std::env::var(var).ok().filter(|v| !v.is_empty());
        }
    }
    json!({"runtime": runtime, "id": id, "image": image, "image_id": image_id})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_podman_fields_are_read() {
        let id = "a".repeat(64);
        let mounts = format!("1 2 0:3 /var/lib/docker/containers/{id}/resolv.conf /etc/resolv.conf rw");
        assert_eq!(id_after(&mounts, &["/docker/containers/"]), Some(id.clone()));
        assert_eq!(id_after("0::/system.slice/docker-abc.scope", &["docker-"]), None, "too short");
        let env = "engine=\"podman-4.9\"\nname=\"trainer\"\nimage=\"quay.io/team/train:1\"\nimageid=\"0123\"\n";
        assert_eq!(containerenv(env, "image").as_deref(), Some("quay.io/team/train:1"));
        assert_eq!(containerenv(env, "imageid").as_deref(), Some("0123"));
    }
}
