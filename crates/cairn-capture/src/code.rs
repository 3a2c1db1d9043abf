//! Code capture: the commit, branch and remote of the repository a command runs in,
//! whether its tree is dirty, the full uncommitted diff (as text, for an artifact),
//! and content hashes of untracked source files. Outside a repository it says so.

use serde_json::{Map, Value, json};
use std::path::Path;

/// Untracked files with these extensions count as source and are hashed.
const SOURCE_EXTENSIONS: &[&str] = &[
    "py", "ipynb", "pyx", "rs", "c", "cc", "cpp", "h", "hpp", "cu", "go", "java", "jl", "r", "sh", "js", "ts", "yaml",
    "yml", "json", "toml", "cfg", "ini",
];
/// Larger untracked files are data, not source.
const MAX_SOURCE_BYTES: u64 = 10 * 1024 * 1024;

/// What was found: the record for the run, and the diff to store beside it.
pub struct Code {
    pub info: Value,
    pub diff: Option<Vec<u8>>,
}

fn not_versioned() -> Code {
    Code { info: json!({"versioned": false}), diff: None }
}

/// Captures the repository containing `dir`, if any. Problems reading the
/// repository are recorded (`"error"`), never fatal: the command still runs.
pub fn capture(dir: &Path, diff_artifact: &str) -> Code {
    let repo = match git2::Repository::discover(dir) {
        Ok(r) => r,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return not_versioned(),
        Err(e) => return Code { info: json!({"versioned": false, "error": e.message()}), diff: None },
    };
    match describe(&repo, diff_artifact) {
        Ok(code) => code,
        Err(e) => Code { info: json!({"versioned": true, "error": e.message()}), diff: None },
    }
}

fn describe(repo: &git2::Repository, diff_artifact: &str) -> Result<Code, git2::Error> {
    let head = repo.head().ok();
    let commit = head.as_ref().and_then(|h| h.peel_to_commit().ok());
    let branch = head.as_ref().filter(|h| h.is_branch()).and_then(|h| h.shorthand().ok().map(str::to_owned));
    let remote = repo.find_remote("origin").ok().and_then(|r| r.url().ok().map(str::to_owned)).or_else(|| {
        let names = repo.remotes().ok()?;
        let first: String = names.iter().find_map(|n| n.ok().flatten().map(str::to_owned))?;
        repo.find_remote(&first).ok()?.url().ok().map(str::to_owned)
    });
    let workdir = repo.workdir().map(Path::to_path_buf);
    if let (Some(wd), Some(c)) = (&workdir, &commit)
        && certainly_clean(repo, wd, c)
    {
        let info = json!({
            "versioned": true, "commit": c.id().to_string(), "branch": branch, "remote": remote, "dirty": false,
            "diff_artifact": null, "untracked": {}, "modified": {}, "diff_hash": null,
        });
        return Ok(Code { info, diff: None });
    }
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut opts))?;
    let mut dirty = false;
    let mut untracked = Map::new();
    let mut modified = Map::new();
    for s in statuses.iter() {
        let st = s.status();
        let Ok(path) = s.path() else { continue };
        if st.contains(git2::Status::WT_NEW) {
            // Cairn's own folder is never part of the code.
            if path.starts_with(".cairn/") {
                continue;
            }
            let is_source = Path::new(path)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| SOURCE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            if let (true, Some(wd)) = (is_source, &workdir) {
                let full = wd.join(path);
                if std::fs::metadata(&full).is_ok_and(|m| m.len() <= MAX_SOURCE_BYTES)
                    && let Ok(bytes) = std::fs::read(&full)
                {
                    untracked.insert(path.to_owned(), json!(blake3::hash(&bytes).to_hex().to_string()));
                }
            }
        } else if !st.is_empty() && !st.contains(git2::Status::IGNORED) {
            dirty = true;
            // A content hash per changed file lets two runs' changes be compared file by file.
            let hash = match workdir.as_ref().map(|wd| std::fs::read(wd.join(path))) {
                Some(Ok(bytes)) => blake3::hash(&bytes).to_hex().to_string(),
                _ => "deleted".to_owned(),
            };
            modified.insert(path.to_owned(), json!(hash));
        }
    }
    let mut diff_text = Vec::new();
    if dirty {
        let tree = commit.as_ref().map(|c| c.tree()).transpose()?;
        let mut dopts = git2::DiffOptions::new();
        dopts.show_binary(false);
        let diff = repo.diff_tree_to_workdir_with_index(tree.as_ref(), Some(&mut dopts))?;
        diff.print(git2::DiffFormat::Patch, |_, _, line| {
            if matches!(line.origin(), '+' | '-' | ' ') {
                diff_text.push(line.origin() as u8);
            }
            diff_text.extend_from_slice(line.content());
            true
        })?;
    }
    let has_diff = !diff_text.is_empty();
    let info = json!({
        "versioned": true,
        "commit": commit.as_ref().map(|c| c.id().to_string()),
        "branch": branch,
        "remote": remote,
        "dirty": dirty,
        "diff_artifact": has_diff.then_some(diff_artifact),
        "untracked": untracked,
        "modified": modified,
        "diff_hash": has_diff.then(|| blake3::hash(&diff_text).to_hex().to_string()),
    });
    Ok(Code { info, diff: has_diff.then_some(diff_text) })
}

/// True when the working tree certainly matches `head`: the index matches its tree,
/// every tracked file's stat data matches its index entry (checked on several threads,
/// as git's preload-index does), and there is no unknown file that is not ignored.
/// `false` means "not certain", and the caller asks libgit2 for the full status — which
/// on a large clean repository is the slow path this avoids.
fn certainly_clean(repo: &git2::Repository, workdir: &Path, head: &git2::Commit<'_>) -> bool {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    let Ok(index) = repo.index() else { return false };
    if index.has_conflicts() {
        return false;
    }
    let Ok(tree) = head.tree() else { return false };
    match repo.diff_tree_to_index(Some(&tree), Some(&index), None) {
        Ok(d) if d.deltas().len() == 0 => {}
        _ => return false,
    }
    // An entry written in the same instant as the index may have changed unseen ("racy").
    let Ok(index_meta) = std::fs::metadata(repo.path().join("index")) else { return false };
    let index_time = (index_meta.mtime(), index_meta.mtime_nsec());
    let entries: Vec<git2::IndexEntry> = index.iter().filter(|e| e.mode != 0o160000).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let chunk = entries.len().div_ceil(threads).max(1);
    let all_match = std::thread::scope(|s| {
        let workers: Vec<_> = entries
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter().all(|e| {
                        let Ok(rel) = std::str::from_utf8(&e.path) else { return false };
                        let Ok(m) = std::fs::symlink_metadata(workdir.join(rel)) else { return false };
                        let kind_ok =
                            if e.mode == 0o120000 { m.file_type().is_symlink() } else { m.file_type().is_file() };
                        let exec = m.mode() & 0o111 != 0;
                        kind_ok
                            && (e.mode == 0o120000 || exec == (e.mode == 0o100755))
                            && e.file_size == m.size() as u32
                            && e.mtime.seconds() as i64 == m.mtime()
                            && e.mtime.nanoseconds() as i64 == m.mtime_nsec()
                            && e.ino == m.ino() as u32
                            && (i64::from(e.mtime.seconds()), i64::from(e.mtime.nanoseconds())) < index_time
                    })
                })
            })
            .collect();
        workers.into_iter().all(|w| w.join().unwrap_or(false))
    });
    if !all_match {
        return false;
    }
    // Unknown files: anything in the tree that the index does not list and git does not ignore.
    let files: HashSet<&[u8]> = entries.iter().map(|e| e.path.as_slice()).collect();
    let mut dirs: HashSet<&[u8]> = HashSet::new();
    for e in &entries {
        for (i, b) in e.path.iter().enumerate() {
            if *b == b'/' {
                dirs.insert(&e.path[..i]);
            }
        }
    }
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let Ok(read) = std::fs::read_dir(if rel.is_empty() { workdir.to_path_buf() } else { workdir.join(&rel) })
        else {
            return false;
        };
        for entry in read {
            let Ok(entry) = entry else { return false };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { return false };
            let path = if rel.is_empty() { name.to_owned() } else { format!("{rel}/{name}") };
            if path == ".git" || path == ".cairn" {
                continue;
            }
            let Ok(kind) = entry.file_type() else { return false };
            if kind.is_dir() && dirs.contains(path.as_bytes()) {
                stack.push(path);
            } else if kind.is_dir() || !files.contains(path.as_bytes()) {
                let ignored = if kind.is_dir() { format!("{path}/") } else { path.clone() };
                if !repo.is_path_ignored(&ignored).unwrap_or(false) {
                    return false;
                }
            }
        }
    }
    true
}

/// Files that differ between two commits of the repository containing `dir`; `None`
/// when either commit is not in this clone.
pub fn files_between(dir: &Path, from: &str, to: &str) -> Option<Vec<String>> {
    let repo = git2::Repository::discover(dir).ok()?;
    let tree = |id: &str| repo.find_commit(git2::Oid::from_str(id).ok()?).ok()?.tree().ok();
    let (a, b) = (tree(from)?, tree(to)?);
    let diff = repo.diff_tree_to_tree(Some(&a), Some(&b), None).ok()?;
    let mut files: Vec<String> = diff
        .deltas()
        .filter_map(|d| d.new_file().path().or_else(|| d.old_file().path()).map(|p| p.to_string_lossy().into_owned()))
        .collect();
    files.sort();
    files.dedup();
    Some(files)
}

/// The text of the diff between two commits (for `cairn diff`); `None` when either is
/// not in this clone.
pub fn diff_between(dir: &Path, from: &str, to: &str) -> Option<Vec<u8>> {
    let repo = git2::Repository::discover(dir).ok()?;
    let tree = |id: &str| repo.find_commit(git2::Oid::from_str(id).ok()?).ok()?.tree().ok();
    let (a, b) = (tree(from)?, tree(to)?);
    let diff = repo.diff_tree_to_tree(Some(&a), Some(&b), None).ok()?;
    let mut out = Vec::new();
    diff.print(git2::DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            out.push(line.origin() as u8);
        }
        out.extend_from_slice(line.content());
        true
    })
    .ok()?;
    Some(out)
}

/// A clean working copy of what a run recorded, for running it again elsewhere
/// (`cairn agent`): the files of `commit` from the repository containing `from`, the
/// recorded uncommitted `diff` applied, and the recorded untracked source files copied
/// from `from`'s repository (each checked against its recorded hash). Returns the
/// folder to run in: `dest` plus `from`'s place inside its repository. The repository
/// itself is only read (no checkout, no index change).
pub fn clean_copy(
    from: &Path,
    commit: &str,
    diff: Option<&[u8]>,
    untracked: &std::collections::BTreeMap<String, String>,
    dest: &Path,
) -> Result<std::path::PathBuf, String> {
    let repo = git2::Repository::discover(from)
        .map_err(|e| format!("{} is not in a git repository: {}", from.display(), e.message()))?;
    let root = repo.workdir().ok_or("the repository has no working tree")?.to_path_buf();
    let oid = git2::Oid::from_str(commit).map_err(|e| format!("'{commit}' is not a commit id: {}", e.message()))?;
    let tree = repo
        .find_commit(oid)
        .and_then(|c| c.tree())
        .map_err(|e| format!("commit {commit} is not in the repository at {}: {}", root.display(), e.message()))?;
    std::fs::create_dir_all(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let mut opts = git2::build::CheckoutBuilder::new();
    opts.target_dir(dest).force().update_index(false).recreate_missing(true);
    match diff.filter(|d| !d.is_empty()) {
        Some(d) => {
            let diff =
                git2::Diff::from_buffer(d).map_err(|e| format!("the recorded diff does not parse: {}", e.message()))?;
            let mut index = repo
                .apply_to_tree(&tree, &diff, None)
                .map_err(|e| format!("the recorded diff does not apply to commit {commit}: {}", e.message()))?;
            repo.checkout_index(Some(&mut index), Some(&mut opts))
        }
        None => repo.checkout_tree(tree.as_object(), Some(&mut opts)),
    }
    .map_err(|e| format!("cannot write the working copy to {}: {}", dest.display(), e.message()))?;
    for (path, hash) in untracked {
        let src = root.join(path);
        let bytes = std::fs::read(&src).map_err(|e| format!("the untracked source {path} cannot be read ({e})"))?;
        if &blake3::hash(&bytes).to_hex().to_string() != hash {
            return Err(format!("the untracked source {path} changed since the run was recorded"));
        }
        let to = dest.join(path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&to, bytes).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    }
    let from = from.canonicalize().unwrap_or_else(|_| from.to_path_buf());
    let root = root.canonicalize().unwrap_or(root);
    let inside = from.strip_prefix(&root).map(Path::to_path_buf).unwrap_or_default();
    Ok(dest.join(inside))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn a_clean_copy_holds_the_commit_the_diff_and_the_untracked_sources() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(d.join("exp")).unwrap();
        std::fs::write(d.join("exp/train.py"), "lr = 0.1\n").unwrap();
        git(d, &["add", "."]);
        git(d, &["commit", "-q", "-m", "first"]);
        std::fs::write(d.join("exp/train.py"), "lr = 0.01\n").unwrap();
        std::fs::write(d.join("exp/augment.py"), "def mixup(): pass\n").unwrap();
        let code = capture(&d.join("exp"), "code/uncommitted.diff");
        let commit = code.info["commit"].as_str().unwrap().to_owned();
        let untracked: std::collections::BTreeMap<String, String> =
            serde_json::from_value(code.info["untracked"].clone()).unwrap();
        // The working tree moves on after the run was recorded; the copy does not.
        std::fs::write(d.join("exp/train.py"), "lr = 0.5\n").unwrap();
        let out = tempfile::tempdir().unwrap();
        let run_in = clean_copy(&d.join("exp"), &commit, code.diff.as_deref(), &untracked, out.path()).unwrap();
        assert_eq!(run_in, out.path().join("exp"));
        assert_eq!(std::fs::read_to_string(run_in.join("train.py")).unwrap(), "lr = 0.01\n");
        assert_eq!(std::fs::read_to_string(run_in.join("augment.py")).unwrap(), "def mixup(): pass\n");
        assert_eq!(
            std::fs::read_to_string(d.join("exp/train.py")).unwrap(),
            "lr = 0.5\n",
            "the repository is only read"
        );
        // An untracked source that changed since is refused, naming it.
        std::fs::write(d.join("exp/augment.py"), "changed\n").unwrap();
        let again = tempfile::tempdir().unwrap();
        let e = clean_copy(&d.join("exp"), &commit, code.diff.as_deref(), &untracked, again.path()).unwrap_err();
        assert!(e.contains("exp/augment.py changed"), "{e}");
    }

    #[test]
    fn a_dirty_repository_is_described_with_its_diff() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        git(d, &["remote", "add", "origin", "https://example.com/team/model.git"]);
        std::fs::write(d.join("train.py"), "lr = 0.1\n").unwrap();
        git(d, &["add", "."]);
        git(d, &["commit", "-q", "-m", "first"]);
        std::fs::write(d.join("train.py"), "lr = 0.01\n").unwrap();
        std::fs::write(d.join("augment.py"), "def mixup(): pass\n").unwrap();
        std::fs::write(d.join("weights.bin"), [0u8; 10]).unwrap();
        std::fs::create_dir_all(d.join(".cairn")).unwrap();
        std::fs::write(d.join(".cairn/server.json"), "{}").unwrap();
        let code = capture(d, "code/uncommitted.diff");
        let info = &code.info;
        assert_eq!(info["versioned"], true);
        assert_eq!(info["branch"], "main");
        assert_eq!(info["remote"], "https://example.com/team/model.git");
        assert_eq!(info["commit"].as_str().unwrap().len(), 40);
        assert_eq!(info["dirty"], true);
        assert_eq!(info["diff_artifact"], "code/uncommitted.diff");
        let untracked = info["untracked"].as_object().unwrap();
        assert_eq!(untracked.keys().collect::<Vec<_>>(), vec!["augment.py"], "source only, never .cairn/");
        let diff = String::from_utf8(code.diff.unwrap()).unwrap();
        assert!(diff.contains("-lr = 0.1") && diff.contains("+lr = 0.01"), "{diff}");
        assert_eq!(info["diff_hash"], blake3::hash(diff.as_bytes()).to_hex().to_string());
        assert_eq!(info["modified"]["train.py"], blake3::hash(b"lr = 0.01\n").to_hex().to_string());

        let first = info["commit"].as_str().unwrap().to_owned();
        git(d, &["add", "train.py", "augment.py"]);
        git(d, &["commit", "-q", "-m", "second"]);
        let second = capture(d, "d").info["commit"].as_str().unwrap().to_owned();
        assert_eq!(files_between(d, &first, &second).unwrap(), vec!["augment.py", "train.py"]);
        let between = String::from_utf8(diff_between(d, &first, &second).unwrap()).unwrap();
        assert!(between.contains("+def mixup()"), "{between}");
        assert!(files_between(d, &first, &"0".repeat(40)).is_none(), "unknown commits give nothing");
    }

    #[test]
    fn the_fast_clean_check_agrees_with_a_full_status() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(d.join("pkg/sub")).unwrap();
        for (p, text) in [("a.py", "a"), ("pkg/b.py", "b"), ("pkg/sub/c.py", "c"), (".gitignore", "*.log\nvenv/\n")] {
            std::fs::write(d.join(p), text).unwrap();
        }
        git(d, &["add", "."]);
        git(d, &["commit", "-q", "-m", "one"]);
        // Let the index be older than any later change, so nothing is racy.
        std::thread::sleep(std::time::Duration::from_millis(20));
        git(d, &["update-index", "--really-refresh"]);
        let repo = git2::Repository::open(d).unwrap();
        let head = || repo.head().unwrap().peel_to_commit().unwrap();
        assert!(certainly_clean(&repo, d, &head()), "a fresh commit is clean");
        // Ignored files and Cairn's own folder do not count.
        std::fs::write(d.join("train.log"), "x").unwrap();
        std::fs::create_dir_all(d.join("venv/lib")).unwrap();
        std::fs::write(d.join("venv/lib/x.py"), "x").unwrap();
        std::fs::create_dir_all(d.join(".cairn")).unwrap();
        assert!(certainly_clean(&repo, d, &head()));
        // Each kind of change sends the caller to the full status.
        std::fs::write(d.join("pkg/new.py"), "n").unwrap();
        assert!(!certainly_clean(&repo, d, &head()), "an untracked file");
        std::fs::remove_file(d.join("pkg/new.py")).unwrap();
        std::fs::write(d.join("pkg/sub/c.py"), "changed").unwrap();
        assert!(!certainly_clean(&repo, d, &head()), "a modified file");
        let code = capture(d, "d");
        assert_eq!(code.info["dirty"], true);
        std::fs::write(d.join("pkg/sub/c.py"), "c").unwrap();
        git(d, &["add", "pkg/sub/c.py"]);
        std::fs::remove_file(d.join("a.py")).unwrap();
        assert!(!certainly_clean(&repo, d, &head()), "a deleted file");
    }

    #[test]
    fn clean_trees_and_plain_folders() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(capture(dir.path(), "d").info, json!({"versioned": false}));
        git(dir.path(), &["init", "-q", "-b", "main"]);
        std::fs::write(dir.path().join("a.py"), "x = 1\n").unwrap();
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "one"]);
        let code = capture(dir.path(), "d");
        assert_eq!(code.info["dirty"], false);
        assert!(code.diff.is_none());
        assert_eq!(code.info["diff_artifact"], Value::Null);
    }
}
