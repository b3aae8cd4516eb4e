//! The runtime an environment is built for, and which wheels fit it.
//!
//! Clean Rooms runs PySpark jobs on Linux ARM64 (Amazon Linux 2023, glibc 2.34) with CPython
//! 3.11. A wheel fits when one of the tags in its file name is one that interpreter accepts:
//! python `cp311`, or `cp3x` (x <= 11) with abi `abi3`, or `py3x`/`py3` with abi `none`; platform
//! `manylinux_2_X_aarch64` (X <= 34; `manylinux2014_aarch64` is `manylinux_2_17_aarch64`) or
//! `any`. The constants are overridable in `crpack.toml` for a future runtime.

use std::fmt;

use serde::Serialize;

/// The interpreter and platform an environment is built for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// CPU architecture as in platform tags (`aarch64`).
    pub arch: String,
    /// glibc version (major, minor) of the runtime's OS.
    pub glibc: (u32, u32),
    /// CPython version (major, minor).
    pub python: (u32, u32),
    /// The full interpreter version written into `pyvenv.cfg`.
    pub python_full: String,
    /// The base interpreter the venv's `bin/python3.X` links to.
    pub interpreter: String,
}

impl Default for Target {
    fn default() -> Self {
        Target::clean_rooms()
    }
}

impl Target {
    /// PySpark 1.0 on Clean Rooms: Linux aarch64, glibc 2.34, CPython 3.11
    /// (`/usr/bin/python3.11` of Amazon Linux 2023's `python3.11` package).
    pub fn clean_rooms() -> Self {
        Target {
            arch: "aarch64".into(),
            glibc: (2, 34),
            python: (3, 11),
            python_full: "3.11.11".into(),
            interpreter: "/usr/bin/python3.11".into(),
        }
    }

    /// `3.11`.
    pub fn python_version(&self) -> String {
        format!("{}.{}", self.python.0, self.python.1)
    }

    /// `python3.11`.
    pub fn python_exe(&self) -> String {
        format!("python{}", self.python_version())
    }

    /// `lib/python3.11/site-packages`.
    pub fn site_packages(&self) -> String {
        format!("lib/{}/site-packages", self.python_exe())
    }

    /// `cp311`.
    pub fn cpython_tag(&self) -> String {
        format!("cp{}{}", self.python.0, self.python.1)
    }

    /// Every platform tag this runtime accepts, most specific first.
    pub fn platform_tags(&self) -> Vec<String> {
        let mut tags = Vec::new();
        if self.glibc.0 == 2 {
            for minor in (17..=self.glibc.1).rev() {
                tags.push(format!("manylinux_2_{minor}_{}", self.arch));
            }
            if self.glibc.1 >= 17 {
                tags.push(format!("manylinux2014_{}", self.arch));
            }
        }
        tags.push("any".into());
        tags
    }

    /// The platform tags to hand to `pip download --platform` (every one but `any`).
    pub fn pip_platforms(&self) -> Vec<String> {
        self.platform_tags().into_iter().filter(|t| t != "any").collect()
    }

    /// The rank of a platform tag: lower is better; `None` when it does not fit.
    fn platform_rank(&self, tag: &str) -> Option<usize> {
        if tag == "any" {
            return Some(1000);
        }
        let rest = tag.strip_suffix(&format!("_{}", self.arch))?;
        let glibc = match rest {
            "manylinux2014" => (2, 17),
            _ => {
                let v = rest.strip_prefix("manylinux_")?;
                let (major, minor) = v.split_once('_')?;
                (major.parse().ok()?, minor.parse().ok()?)
            }
        };
        if glibc.0 == self.glibc.0 && glibc.1 <= self.glibc.1 {
            Some((self.glibc.1 - glibc.1) as usize)
        } else {
            None
        }
    }

    /// The rank of an interpreter/abi pair: lower is better; `None` when it does not fit.
    fn python_rank(&self, python: &str, abi: &str) -> Option<usize> {
        let (major, minor) = self.python;
        let exact = format!("cp{major}{minor}");
        if python == exact && (abi == exact || abi == format!("{exact}m")) {
            return Some(0);
        }
        if let Some(v) = python.strip_prefix(&format!("cp{major}"))
            && abi == "abi3"
            && let Ok(m) = v.parse::<u32>()
            && m <= minor
        {
            return Some(1 + (minor - m) as usize);
        }
        if abi == "none" {
            if python == exact {
                return Some(100);
            }
            if python == format!("py{major}{minor}") {
                return Some(200);
            }
            if python == format!("py{major}") {
                return Some(300);
            }
            if let Some(v) = python.strip_prefix(&format!("py{major}"))
                && let Ok(m) = v.parse::<u32>()
                && m < minor
            {
                return Some(300 + (minor - m) as usize);
            }
        }
        None
    }

    /// How well a wheel fits: lower is better, `None` when no tag of it fits. Like pip, the
    /// interpreter tag matters most, then the platform.
    pub fn rank(&self, wheel: &WheelName) -> Option<usize> {
        wheel
            .tags()
            .filter_map(|(py, abi, plat)| {
                Some(self.python_rank(py, abi)? * 10_000 + self.platform_rank(plat)?)
            })
            .min()
    }

    /// Whether any of the wheel's tags fits.
    pub fn accepts(&self, wheel: &WheelName) -> bool {
        self.rank(wheel).is_some()
    }
}

/// As JSON: `{"arch": "aarch64", "glibc": "2.34", "python": "3.11", ...}`.
impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Target", 5)?;
        s.serialize_field("arch", &self.arch)?;
        s.serialize_field("glibc", &format!("{}.{}", self.glibc.0, self.glibc.1))?;
        s.serialize_field("python", &self.python_version())?;
        s.serialize_field("python_full", &self.python_full)?;
        s.serialize_field("interpreter", &self.interpreter)?;
        s.end()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Linux {} (glibc {}.{}), CPython {}",
            self.arch,
            self.glibc.0,
            self.glibc.1,
            self.python_version()
        )
    }
}

/// The parts of a wheel's file name
/// (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`), each tag part possibly a
/// `.`-separated set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    pub file_name: String,
    /// The distribution name as written in the file name (`_` for runs of `-_.`).
    pub name: String,
    pub version: String,
    pub build: Option<String>,
    pub python: Vec<String>,
    pub abi: Vec<String>,
    pub platform: Vec<String>,
}

impl WheelName {
    /// Parses a wheel file name; `None` when it is not one (an sdist, say).
    pub fn parse(file_name: &str) -> Option<WheelName> {
        let stem = file_name.strip_suffix(".whl")?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, python, abi, platform) = match parts.as_slice() {
            [n, v, p, a, pl] => (*n, *v, None, *p, *a, *pl),
            [n, v, b, p, a, pl] => (*n, *v, Some(*b), *p, *a, *pl),
            _ => return None,
        };
        if [name, version, python, abi, platform]
            .iter()
            .any(|s| s.is_empty())
        {
            return None;
        }
        let split = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
        Some(WheelName {
            file_name: file_name.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            build: build.map(str::to_string),
            python: split(python),
            abi: split(abi),
            platform: split(platform),
        })
    }

    /// Every (python, abi, platform) combination the name expands to.
    pub fn tags(&self) -> impl Iterator<Item = (&str, &str, &str)> + '_ {
        self.python.iter().flat_map(move |p| {
            self.abi.iter().flat_map(move |a| {
                self.platform
                    .iter()
                    .map(move |pl| (p.as_str(), a.as_str(), pl.as_str()))
            })
        })
    }

    /// The tag triple as written (`cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64`).
    pub fn tag_string(&self) -> String {
        format!(
            "{}-{}-{}",
            self.python.join("."),
            self.abi.join("."),
            self.platform.join(".")
        )
    }

    /// The normalized project name (PEP 503: lowercase, runs of `-_.` as `-`).
    pub fn normalized_name(&self) -> String {
        normalize_name(&self.name)
    }
}

/// PEP 503 name normalization: lowercase, runs of `-`, `_` and `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fits(name: &str) -> bool {
        Target::default().accepts(&WheelName::parse(name).unwrap())
    }

    #[test]
    fn wheel_names_parse() {
        let w = WheelName::parse("numpy-1.26.4-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl")
            .unwrap();
        assert_eq!((w.name.as_str(), w.version.as_str()), ("numpy", "1.26.4"));
        assert_eq!(w.platform, ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]);
        assert_eq!(w.tags().count(), 2);
        let b = WheelName::parse("pkg-1.0-1-py3-none-any.whl").unwrap();
        assert_eq!(b.build.as_deref(), Some("1"));
        assert!(WheelName::parse("numpy-1.26.4.tar.gz").is_none());
        assert!(WheelName::parse("bad-1.0.whl").is_none());
    }

    #[test]
    fn tags_for_the_runtime() {
        assert!(fits(
            "numpy-1.26.4-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
        ));
        assert!(fits("six-1.16.0-py2.py3-none-any.whl"));
        assert!(fits("cryptography-43.0.0-cp39-abi3-manylinux_2_28_aarch64.whl"));
        assert!(fits("x-1.0-cp311-cp311-manylinux_2_34_aarch64.whl"));
        assert!(fits("x-1.0-py311-none-any.whl"));
        assert!(
            !fits("x-1.0-cp311-cp311-manylinux_2_35_aarch64.whl"),
            "glibc too new"
        );
        assert!(
            !fits("x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
            "another CPU"
        );
        assert!(
            !fits("x-1.0-cp312-cp312-manylinux_2_17_aarch64.whl"),
            "another Python"
        );
        assert!(
            !fits("x-1.0-cp312-abi3-manylinux_2_17_aarch64.whl"),
            "abi3 from a newer Python"
        );
        assert!(!fits("x-1.0-cp311-cp311-musllinux_1_2_aarch64.whl"), "musl");
        assert!(!fits("x-1.0-cp311-cp311-linux_aarch64.whl"), "not a portable tag");
        assert!(!fits("x-1.0-py2-none-any.whl"));
        assert!(!fits("x-1.0-cp311-cp311-macosx_11_0_arm64.whl"));
    }

    #[test]
    fn better_tags_rank_first() {
        let t = Target::default();
        let r = |n: &str| t.rank(&WheelName::parse(n).unwrap()).unwrap();
        assert!(
            r("x-1-cp311-cp311-manylinux_2_28_aarch64.whl") < r("x-1-cp311-cp311-manylinux2014_aarch64.whl")
        );
        assert!(
            r("x-1-cp311-cp311-manylinux2014_aarch64.whl") < r("x-1-cp39-abi3-manylinux_2_28_aarch64.whl")
        );
        assert!(r("x-1-cp39-abi3-manylinux2014_aarch64.whl") < r("x-1-py3-none-any.whl"));
    }

    #[test]
    fn names_normalize() {
        assert_eq!(normalize_name("Foo.Bar__baz"), "foo-bar-baz");
        assert_eq!(normalize_name("typing_extensions"), "typing-extensions");
    }

    #[test]
    fn pip_platforms_cover_every_glibc() {
        let p = Target::default().pip_platforms();
        assert_eq!(p.first().map(String::as_str), Some("manylinux_2_34_aarch64"));
        assert!(p.contains(&"manylinux2014_aarch64".to_string()));
        assert_eq!(p.len(), 19);
    }
}
