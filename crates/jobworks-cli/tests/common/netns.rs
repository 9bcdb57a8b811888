//! Hosts on links of their own for multi-host tests: one network namespace per host
//! (`ip netns add jw-<pid>-<subnet>-<n>`), joined to the root namespace (where the server
//! runs, so it reaches PostgreSQL on 127.0.0.1) by a veth pair on a /30 of the test's own
//! private /24 (`10.77.<subnet>.0/24`, claimed under `/tmp/jw-netns/` so parallel tests never
//! share one). A link can be shaped (`tc … tbf`: bandwidth) and cut and restored
//! (`ip link set … down/up` on the root side: the host sees its carrier go, as when an
//! upstream cable is pulled; packets are dropped, connections hang rather than fail).
//!
//! Everything made here is removed in `Drop`, which runs when a test panics too; namespaces,
//! veths and subnet claims left by a crashed earlier run (its process gone) are removed when
//! the next [`Net`] is made.
//!
//! Latency and loss are not shaped: this kernel has no `sch_netem` (`tc qdisc add … netem`
//! answers "Specified qdisc kind is unknown"), and loss is not faked another way; tests use
//! bandwidth limits and cuts.
//!
//! Where namespaces cannot be made (not root, no `ip`; or `JOBWORKS_TEST_NETNS=off`),
//! [`Net::new`] prints why and gives a loopback net: hosts are the root namespace, commands run directly, links cannot be shaped
//! or cut ([`Net::cut`] and [`Net::shape`] say so), and tests assert what still applies.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where claims of `10.77.<n>.0/24` subnets live (one directory per subnet, holding the pid
/// of the test process that holds it).
const CLAIMS: &str = "/tmp/jw-netns";

/// A set of hosts for one test: namespaces and links, or the loopback fallback.
pub struct Net {
    /// The third octet of this test's `10.77.x.0/24`; `None` on loopback.
    subnet: Option<u8>,
    hosts: Vec<Host>,
}

/// One host: a namespace with one link to the root namespace (or, on loopback, the root
/// namespace itself).
#[derive(Clone, Debug)]
pub struct Host {
    /// Namespace name; `None` on loopback.
    pub ns: Option<String>,
    /// The address the server is reached at from this host (the link's root end, or
    /// 127.0.0.1 on loopback).
    pub server_addr: String,
    /// The host's own address on its link.
    pub addr: String,
    /// The link's interface in the root namespace.
    root_if: String,
    /// The link's interface in the host's namespace.
    host_if: String,
}

/// Runs `ip`/`tc` with `args`; `Err` with its stderr when it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether process `pid` is alive (a `/proc` entry that is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

/// Removes namespaces and subnet claims whose test process is gone.
fn remove_stale() {
    if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            let pid = name
                .strip_prefix("jw-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            if let Some(pid) = pid
                && !alive(pid)
            {
                eprintln!("netns: removing {name}, left by a test process that is gone");
                let _ = run("ip", &["netns", "del", name]);
            }
        }
    }
    if let Ok(dirs) = std::fs::read_dir(CLAIMS) {
        for dir in dirs.flatten() {
            let owner = std::fs::read_to_string(dir.path().join("pid"))
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok());
            if owner.is_none_or(|pid| !alive(pid)) {
                let _ = std::fs::remove_dir_all(dir.path());
            }
        }
    }
}

/// Claims a free `10.77.x.0/24` for this process: `x` from its pid on, skipping claimed
/// ones and any already on an interface here.
fn claim_subnet() -> Result<u8, String> {
    std::fs::create_dir_all(CLAIMS).map_err(|e| format!("cannot create {CLAIMS}: {e}"))?;
    let in_use = Command::new("ip")
        .args(["-o", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let start = std::process::id() as usize;
    for i in 0..250 {
        let x = ((start + i) % 250 + 1) as u8;
        if in_use.contains(&format!("10.77.{x}.")) {
            continue;
        }
        let dir = Path::new(CLAIMS).join(x.to_string());
        if std::fs::create_dir(&dir).is_ok() {
            std::fs::write(dir.join("pid"), std::process::id().to_string())
                .map_err(|e| format!("cannot write the claim of 10.77.{x}.0/24: {e}"))?;
            return Ok(x);
        }
    }
    Err("no free 10.77.x.0/24 subnet".into())
}

/// Why namespaces cannot be made here (or are not wanted: `JOBWORKS_TEST_NETNS=off`), or
/// `None` when they can.
fn unavailable() -> Option<String> {
    if std::env::var("JOBWORKS_TEST_NETNS").is_ok_and(|v| v == "off") {
        return Some("JOBWORKS_TEST_NETNS=off".into());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    if uid != "0" {
        return Some(format!("not running as root (uid `{uid}`)"));
    }
    if let Err(e) = run("ip", &["netns", "list"]) {
        return Some(format!("`ip netns` does not work: {e}"));
    }
    None
}

impl Net {
    /// A net of namespaces, or (printing why) the loopback fallback.
    pub fn new() -> Net {
        if let Some(why) = unavailable() {
            eprintln!("netns: network namespaces unavailable ({why}); falling back to loopback");
            return Net {
                subnet: None,
                hosts: Vec::new(),
            };
        }
        remove_stale();
        match claim_subnet() {
            Ok(x) => Net {
                subnet: Some(x),
                hosts: Vec::new(),
            },
            Err(why) => {
                eprintln!("netns: {why}; falling back to loopback");
                Net {
                    subnet: None,
                    hosts: Vec::new(),
                }
            }
        }
    }

    /// Whether hosts live in namespaces of their own (links can be shaped and cut).
    pub fn isolated(&self) -> bool {
        self.subnet.is_some()
    }

    /// A new host with its own namespace and link (`10.77.x.(4k+1)` on the root end,
    /// `.(4k+2)` on the host's); on loopback, the root namespace. Panics when `ip` fails
    /// after namespaces were found to work (the test cannot go on).
    pub fn host(&mut self) -> Host {
        let Some(x) = self.subnet else {
            return Host {
                ns: None,
                server_addr: "127.0.0.1".into(),
                addr: "127.0.0.1".into(),
                root_if: String::new(),
                host_if: String::new(),
            };
        };
        let k = self.hosts.len();
        assert!(k < 63, "at most 63 hosts per net");
        let host = Host {
            ns: Some(format!("jw-{}-{x}-{k}", std::process::id())),
            server_addr: format!("10.77.{x}.{}", 4 * k + 1),
            addr: format!("10.77.{x}.{}", 4 * k + 2),
            root_if: format!("jw{x}r{k}"),
            host_if: format!("jw{x}h{k}"),
        };
        // recorded first, so `Drop` removes whatever part was made
        self.hosts.push(host.clone());
        let ns = host.ns.as_deref().unwrap_or_default();
        let root_cidr = format!("{}/30", host.server_addr);
        let host_cidr = format!("{}/30", host.addr);
        let steps: [(&str, Vec<&str>); 7] = [
            ("ip", vec!["netns", "add", ns]),
            (
                "ip",
                vec![
                    "link",
                    "add",
                    &host.root_if,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &host.host_if,
                    "netns",
                    ns,
                ],
            ),
            ("ip", vec!["addr", "add", &root_cidr, "dev", &host.root_if]),
            ("ip", vec!["link", "set", &host.root_if, "up"]),
            (
                "ip",
                vec![
                    "netns",
                    "exec",
                    ns,
                    "ip",
                    "addr",
                    "add",
                    &host_cidr,
                    "dev",
                    &host.host_if,
                ],
            ),
            (
                "ip",
                vec![
                    "netns",
                    "exec",
                    ns,
                    "ip",
                    "link",
                    "set",
                    &host.host_if,
                    "up",
                ],
            ),
            (
                "ip",
                vec!["netns", "exec", ns, "ip", "link", "set", "lo", "up"],
            ),
        ];
        for (program, args) in steps {
            run(program, &args).unwrap_or_else(|e| panic!("netns: {e}"));
        }
        host
    }

    /// A command running `program` on `host` (`ip netns exec NS program`, which execs it in
    /// place: the child's pid is the program's).
    pub fn command(&self, host: &Host, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &host.ns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns]).arg(program);
                cmd
            }
            None => Command::new(program),
        }
    }

    /// Limits `host`'s link to `kbit` kbit/s both ways (`tc qdisc … tbf`, a 4 KiB bucket and
    /// a queue of 400 ms). Errors: on loopback, or when `tc` fails.
    pub fn shape(&self, host: &Host, kbit: u32) -> Result<(), String> {
        let Some(ns) = &host.ns else {
            return Err("links cannot be shaped without network namespaces".into());
        };
        let rate = format!("{kbit}kbit");
        let tbf = ["tbf", "rate", &rate, "burst", "32kbit", "latency", "400ms"];
        let mut root = vec!["qdisc", "add", "dev", &host.root_if, "root"];
        root.extend(tbf);
        run("tc", &root)?;
        let mut inner = vec![
            "netns",
            "exec",
            ns,
            "tc",
            "qdisc",
            "add",
            "dev",
            &host.host_if,
        ];
        inner.push("root");
        inner.extend(tbf);
        run("ip", &inner)
    }

    /// Bytes the root namespace has received over `host`'s link so far (the link's root end
    /// `rx_bytes`: what the host sent, headers included); `None` on loopback.
    pub fn bytes_from(&self, host: &Host) -> Option<u64> {
        host.ns.as_ref()?;
        let path = format!("/sys/class/net/{}/statistics/rx_bytes", host.root_if);
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// Cuts `host`'s link (its root end goes down). Errors: on loopback, or when `ip` fails.
    pub fn cut(&self, host: &Host) -> Result<(), String> {
        self.set_link(host, "down")
    }

    /// Restores a cut link. Errors: as [`Net::cut`].
    pub fn restore(&self, host: &Host) -> Result<(), String> {
        self.set_link(host, "up")
    }

    fn set_link(&self, host: &Host, state: &str) -> Result<(), String> {
        if host.ns.is_none() {
            return Err("links cannot be cut without network namespaces".into());
        }
        run("ip", &["link", "set", &host.root_if, state])
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for host in &self.hosts {
            // the root end first: a namespace is torn down asynchronously by the kernel,
            // and its veth peer with it
            let _ = run("ip", &["link", "del", &host.root_if]);
            if let Some(ns) = &host.ns {
                let _ = run("ip", &["netns", "del", ns]);
            }
        }
        if let Some(x) = self.subnet {
            let _ = std::fs::remove_dir_all(PathBuf::from(CLAIMS).join(x.to_string()));
        }
    }
}
