//! `tourdesk backup --to FILE` and `tourdesk restore --from FILE`, for the
//! SQLite database. PostgreSQL has its own tools (`pg_dump`, `pg_restore`);
//! for a PostgreSQL DATABASE_URL both commands say so and exit non-zero.
//!
//! A backup is taken while the server runs: `VACUUM INTO` on a connection
//! of its own copies one consistent snapshot (every transaction committed
//! before it started, nothing half-done) into a temporary file beside FILE,
//! which is verified, synced and only then renamed to FILE. FILE is claimed
//! first, so an existing file is never overwritten, not even by a race.
//!
//! A restore verifies a copy of the backup in the target's folder, then
//! moves it into place (removing the old database's `-wal` / `-shm`, which
//! would otherwise be replayed onto the restored file) and migrates it.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::bail;
use tourdesk_store::Backend;
use tourdesk_store::backup::{self as store_backup, Verified};

use super::DatabaseArgs;

#[derive(Debug, Clone, clap::Args)]
pub struct BackupArgs {
    /// Where to write the backup; must not exist yet.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// The backup to restore (a file `tourdesk backup` wrote).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Replace the database DATABASE_URL names if it exists (stop the
    /// server first).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// Writes a verified backup of the SQLite database; prints one line.
pub async fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    let url = &args.db.database_url;
    if Backend::from_url(url)? == Backend::Postgres {
        bail!(
            "backup: {} is PostgreSQL; back it up with pg_dump (pg_dump -Fc -d DATABASE_URL -f FILE; see the README's Backups section)",
            tourdesk_store::redact_url(url)
        );
    }
    let source = store_backup::sqlite_path(url)?;
    if !source.is_file() {
        bail!(
            "backup: there is no SQLite database at {}",
            source.display()
        );
    }
    let to = &args.to;
    if let Some(dir) = parent(to) {
        fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("backup: cannot create {}: {e}", dir.display()))?;
    }
    // Claim the name: fails if anything is there, and no one can take it
    // between this check and the rename below.
    match OpenOptions::new().write(true).create_new(true).open(to) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => bail!(
            "backup: {} already exists; a backup never overwrites a file, choose another name",
            to.display()
        ),
        Err(e) => bail!("backup: cannot create {}: {e}", to.display()),
    }
    let partial = sibling(to, "partial");
    let mut cleanup = Cleanup(vec![partial.clone(), to.clone()]);
    let _ = fs::remove_file(&partial);
    store_backup::vacuum_into(&source, &partial)
        .await
        .map_err(|e| anyhow::anyhow!("backup: {e}"))?;
    let verified = store_backup::verify(&partial)
        .await
        .map_err(|e| anyhow::anyhow!("backup: the copy failed verification: {e}"))?;
    sync_file(&partial).map_err(|e| anyhow::anyhow!("backup: {e}"))?;
    fs::rename(&partial, to).map_err(|e| {
        anyhow::anyhow!(
            "backup: cannot move {} to {}: {e}",
            partial.display(),
            to.display()
        )
    })?;
    sync_dir(to).map_err(|e| anyhow::anyhow!("backup: {e}"))?;
    cleanup.disarm();
    println!("backup: wrote {}", summary(to, &verified));
    Ok(())
}

/// Replaces the SQLite database with a verified backup and migrates it;
/// prints one line.
pub async fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    let url = &args.db.database_url;
    if Backend::from_url(url)? == Backend::Postgres {
        bail!(
            "restore: {} is PostgreSQL; restore a pg_dump archive with pg_restore (pg_restore --clean --if-exists -d DATABASE_URL FILE into an empty database, then tourdesk migrate and tourdesk check; see the README's Backups section)",
            tourdesk_store::redact_url(url)
        );
    }
    let target = store_backup::sqlite_path(url)?;
    let from = &args.from;
    if !from.is_file() {
        bail!("restore: there is no file at {}", from.display());
    }
    let wal = with_suffix(from, "-wal");
    if wal.exists() {
        bail!(
            "restore: {} has a write-ahead log beside it ({}): it is a live database, not a backup; take one with tourdesk backup",
            from.display(),
            wal.display()
        );
    }
    if let (Ok(a), Ok(b)) = (from.canonicalize(), target.canonicalize())
        && a == b
    {
        bail!(
            "restore: {} is the database DATABASE_URL names",
            from.display()
        );
    }
    if target.exists() && !args.force {
        bail!(
            "restore: {} already exists; pass --force to replace it (stop the server first)",
            target.display()
        );
    }
    if let Some(dir) = parent(&target) {
        fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("restore: cannot create {}: {e}", dir.display()))?;
    }
    // Verify the very bytes that will be installed: a copy in the target's
    // folder, so the final rename is atomic.
    let incoming = sibling(&target, "restore");
    let mut cleanup = Cleanup(vec![incoming.clone()]);
    let _ = fs::remove_file(&incoming);
    fs::copy(from, &incoming).map_err(|e| {
        anyhow::anyhow!(
            "restore: cannot copy {} to {}: {e}",
            from.display(),
            incoming.display()
        )
    })?;
    let verified = store_backup::verify(&incoming).await.map_err(|e| {
        anyhow::anyhow!(
            "restore: {} is not a usable Tourdesk backup: {e}",
            from.display()
        )
    })?;
    sync_file(&incoming).map_err(|e| anyhow::anyhow!("restore: {e}"))?;
    // The old database's log and index would be applied to the new file.
    for suffix in ["-wal", "-shm", "-journal"] {
        let stale = with_suffix(&target, suffix);
        match fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => bail!("restore: cannot remove {}: {e}", stale.display()),
        }
    }
    fs::rename(&incoming, &target).map_err(|e| {
        anyhow::anyhow!(
            "restore: cannot move {} to {}: {e}",
            incoming.display(),
            target.display()
        )
    })?;
    sync_dir(&target).map_err(|e| anyhow::anyhow!("restore: {e}"))?;
    cleanup.disarm();
    let db = crate::startup::open_database(&args.db.config())
        .await
        .map_err(|e| anyhow::anyhow!("restore: restored, but migrating failed: {e:#}"))?;
    db.close().await;
    println!(
        "restore: {} from {}; migrations applied",
        summary(&target, &verified),
        from.display()
    );
    Ok(())
}

/// `PATH (N bytes, M bookings)`.
fn summary(path: &Path, v: &Verified) -> String {
    let bytes = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let shown = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    format!(
        "{} ({bytes} bytes, {} bookings, schema version {})",
        shown.display(),
        v.bookings,
        v.schema_version
    )
}

fn parent(path: &Path) -> Option<&Path> {
    path.parent().filter(|d| !d.as_os_str().is_empty())
}

/// `DIR/.NAME.WHAT-PID`: a temporary file beside `path`, on its filesystem.
fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tourdesk.db".into());
    path.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

/// `PATH` with `suffix` appended to its file name (`t.db` → `t.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn sync_file(path: &Path) -> Result<(), String> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", path.display()))
}

/// Makes a rename in `path`'s folder durable.
fn sync_dir(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        let dir = parent(path).unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Removes the files it holds when dropped, unless disarmed: nothing half
/// written is left behind by a failure.
struct Cleanup(Vec<PathBuf>);

impl Cleanup {
    fn disarm(&mut self) {
        self.0.clear();
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}
