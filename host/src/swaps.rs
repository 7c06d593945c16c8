//! The swap partitions, from /proc/swaps, as the kernel encodes their
//! device numbers (what block tracepoints report).

use std::os::unix::fs::MetadataExt;

/// `dev_t` of every active swap partition (swap files are left out: their
/// reads go to their file system's device).
pub fn partitions() -> Vec<u32> {
    std::fs::read_to_string("/proc/swaps")
        .map(|text| parse(&text))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|meta| kernel_dev(meta.rdev()))
        .collect()
}

/// The `partition` lines' paths.
fn parse(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let path = fields.next()?;
            (fields.next()? == "partition").then(|| path.to_string())
        })
        .collect()
}

/// The kernel's `MKDEV(major, minor)`: major in the top 12 bits, minor in the low 20.
fn kernel_dev(rdev: u64) -> u32 {
    (libc::major(rdev) << 20) | libc::minor(rdev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_only() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                    /dev/zram0                              partition\t8388604\t\t0\t\t100\n\
                    /swapfile                               file\t\t1048572\t\t0\t\t-2\n";
        assert_eq!(parse(text), ["/dev/zram0"]);
        assert_eq!(kernel_dev(libc::makedev(252, 3)), (252 << 20) | 3);
    }
}
