//! A PostgreSQL server of its own for a test: `initdb` in a new directory,
//! started with `pg_ctl` on a free loopback port, stopped in `Drop` (by
//! the server's postmaster.pid). Debian's `postgresql` package (installed
//! by scripts/setup_interop.sh) provides the programs; as root they run as
//! the `postgres` user, which PostgreSQL insists on.

use std::path::PathBuf;
use std::process::Command;

pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PgServer {
    pub fn start() -> PgServer {
        let bin = programs();
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown postgres {}", dir.path().display());
        }
        let port = free_port();
        let server = PgServer { dir, bin, port };
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "voicegate",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        server.launch();
        server
    }

    /// A new database on the server, as a store URL.
    pub fn database(&self, name: &str) -> String {
        let admin = format!("postgres://voicegate@127.0.0.1:{}/postgres", self.port);
        let mut client = ::postgres::Client::connect(&admin, ::postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        format!("postgres://voicegate@127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the server as a crash or a restart would (open connections are cut).
    pub fn stop(&self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    /// Starts the server on its port and data (again, after [`Self::stop`]).
    pub fn launch(&self) {
        let data = self.data();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "30", "start",
            ],
        );
    }

    fn is_running(&self) -> bool {
        std::path::Path::new(&self.data())
            .join("postmaster.pid")
            .exists()
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.is_running() {
            self.stop();
        }
    }
}

/// Where initdb and pg_ctl are: Debian keeps them off PATH.
fn programs() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!("no PostgreSQL server programs under /usr/lib/postgresql/*/bin: bash scripts/setup_interop.sh installs Debian's postgresql")
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
