//! The swap partitions, from /proc/swaps, as the kernel encodes their
//! device numbers (what block tracepoints report).

use std::os::unix::fs::MetadataExt;

use aya::maps::Array;
use wasmtrace_ebpf::abi;

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

/// Tells memory.swapin which block devices are swap partitions: its
/// catalog row's setup.
pub fn load_devices(ebpf: &mut aya::Ebpf) -> Result<(), String> {
    let devices = partitions();
    if devices.is_empty() {
        tracing::warn!(
            "probe memory.swapin: /proc/swaps lists no swap partition, so it will see nothing \
             (swap files are not seen: their reads go to their file system's device)"
        );
    }
    let mut map: Array<_, u32> = ebpf
        .map_mut("swap_devices")
        .ok_or("no `swap_devices` map")?
        .try_into()
        .map_err(|e| format!("`swap_devices` map: {e}"))?;
    for (i, dev) in devices.iter().take(abi::SWAP_DEVICES_MAX).enumerate() {
        map.set(i as u32, dev, 0)
            .map_err(|e| format!("setting swap devices: {e}"))?;
    }
    Ok(())
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
