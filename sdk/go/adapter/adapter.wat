;; WASI preview 1 for Go's wasip1 port, on WASI 0.2: clocks, randomness,
;; stdout and stderr, and exit. A plugin has no files, sockets or arguments:
;; the rest of preview 1 is here so that any Go program links, and fails as
;; a sandbox without them would (EBADF, ENOTCAPABLE, ENOTSUP).
;;
;; It stands in for wasmtime's preview-1 adapter, which takes its state from
;; the end of the plugin's memory, where Go's heap grows: Go takes all memory
;; past its data for its own, and would overwrite it.
(module
  (import "env" "memory" (memory 0))
  (import "wasi:cli/stdout@0.2.0" "get-stdout" (func $get_stdout (result i32)))
  (import "wasi:cli/stderr@0.2.0" "get-stderr" (func $get_stderr (result i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush"
    (func $write_and_flush (param i32 i32 i32 i32)))
  (import "wasi:io/error@0.2.0" "[resource-drop]error" (func $drop_error (param i32)))
  (import "wasi:cli/exit@0.2.0" "exit" (func $exit (param i32)))
  (import "wasi:clocks/monotonic-clock@0.2.0" "now" (func $monotonic_now (result i64)))
  (import "wasi:clocks/wall-clock@0.2.0" "now" (func $wall_now (param i32)))
  (import "wasi:random/random@0.2.0" "get-random-u64" (func $random_u64 (result i64)))

  ;; Where WASI 0.2 writes results (16 bytes): in the 8 KiB below Go's data
  ;; (addresses 4096 to 12288) that Go's linker reserves on every wasm target
  ;; and fills only on js, for wasm_exec.js's arguments.
  (global $results i32 (i32.const 8192))
  ;; A word the SDK sets while the host has it allocate (cabi_*_realloc in
  ;; abi.go). The host's call may not leave the plugin then, and Go's
  ;; allocator reads the clock (for the collector): it gets the last reading.
  (global $allocating i32 (i32.const 8224))
  (global $last_monotonic (mut i64) (i64.const 1))
  (global $last_wall (mut i64) (i64.const 1))
  ;; Output streams, opened on first use.
  (global $stdout (mut i32) (i32.const -1))
  (global $stderr (mut i32) (i32.const -1))

  (func (export "sched_yield") (result i32)
    (i32.const 0))

  ;; Exit statuses other than 0 become WASI's error status.
  (func (export "proc_exit") (param $code i32)
    (call $exit (i32.ne (local.get $code) (i32.const 0)))
    (unreachable))

  ;; No arguments and no environment.
  (func (export "args_sizes_get") (param $count i32) (param $bytes i32) (result i32)
    (i32.store (local.get $count) (i32.const 0))
    (i32.store (local.get $bytes) (i32.const 0))
    (i32.const 0))
  (func (export "args_get") (param i32 i32) (result i32)
    (i32.const 0))
  (func (export "environ_sizes_get") (param $count i32) (param $bytes i32) (result i32)
    (i32.store (local.get $count) (i32.const 0))
    (i32.store (local.get $bytes) (i32.const 0))
    (i32.const 0))
  (func (export "environ_get") (param i32 i32) (result i32)
    (i32.const 0))

  ;; CLOCK_REALTIME (0) and CLOCK_MONOTONIC (1), in nanoseconds; EINVAL for others.
  (func (export "clock_time_get") (param $id i32) (param $precision i64) (param $time i32) (result i32)
    (if (i32.gt_u (local.get $id) (i32.const 1))
      (then (return (i32.const 28))))
    (if (i32.eqz (i32.load (global.get $allocating)))
      (then
        (if (local.get $id)
          (then (global.set $last_monotonic (call $monotonic_now)))
          (else
            ;; A datetime: seconds (u64), then nanoseconds (u32).
            (call $wall_now (global.get $results))
            (global.set $last_wall
              (i64.add
                (i64.mul (i64.load (global.get $results)) (i64.const 1000000000))
                (i64.extend_i32_u (i32.load offset=8 (global.get $results)))))))))
    (i64.store (local.get $time)
      (select (global.get $last_monotonic) (global.get $last_wall) (local.get $id)))
    (i32.const 0))

  (func (export "random_get") (param $buf i32) (param $len i32) (result i32)
    (local $word i64)
    (block $words_done
      (loop $words
        (br_if $words_done (i32.lt_u (local.get $len) (i32.const 8)))
        (i64.store (local.get $buf) (call $random_u64))
        (local.set $buf (i32.add (local.get $buf) (i32.const 8)))
        (local.set $len (i32.sub (local.get $len) (i32.const 8)))
        (br $words)))
    (local.set $word (call $random_u64))
    (block $bytes_done
      (loop $bytes
        (br_if $bytes_done (i32.eqz (local.get $len)))
        (i64.store8 (local.get $buf) (local.get $word))
        (local.set $word (i64.shr_u (local.get $word) (i64.const 8)))
        (local.set $buf (i32.add (local.get $buf) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $bytes)))
    (i32.const 0))

  ;; Every subscription is ready at once: a plugin handles a batch and
  ;; returns, it does not wait. A subscription is 48 bytes (userdata, then
  ;; its type at 8); an event 32 (userdata, error at 8, type at 10, then
  ;; the byte count and flags of fd events).
  (func (export "poll_oneoff") (param $in i32) (param $out i32) (param $n i32) (param $events i32) (result i32)
    (local $i i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i64.store (local.get $out) (i64.load (local.get $in)))
        (i32.store16 offset=8 (local.get $out) (i32.const 0))
        (i32.store8 offset=10 (local.get $out) (i32.load8_u offset=8 (local.get $in)))
        (i64.store offset=16 (local.get $out) (i64.const 0))
        (i64.store offset=24 (local.get $out) (i64.const 0))
        (local.set $in (i32.add (local.get $in) (i32.const 48)))
        (local.set $out (i32.add (local.get $out) (i32.const 32)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (i32.store (local.get $events) (local.get $n))
    (i32.const 0))

  ;; Writes bytes to a stream, 4096 at a time (WASI's most per call). A
  ;; failed write (stderr full) loses the bytes: Go's runtime aborts on a
  ;; failed write, and would print that failure too.
  (func $write (param $stream i32) (param $ptr i32) (param $len i32)
    (local $chunk i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $len)))
        (local.set $chunk
          (select (i32.const 4096) (local.get $len) (i32.gt_u (local.get $len) (i32.const 4096))))
        ;; result<_, stream-error>: its case at 0; the error's case at 4, its handle at 8.
        (call $write_and_flush (local.get $stream) (local.get $ptr) (local.get $chunk) (global.get $results))
        (if (i32.load8_u (global.get $results))
          (then
            (if (i32.eqz (i32.load8_u offset=4 (global.get $results)))
              (then (call $drop_error (i32.load offset=8 (global.get $results)))))
            (return)))
        (local.set $ptr (i32.add (local.get $ptr) (local.get $chunk)))
        (local.set $len (i32.sub (local.get $len) (local.get $chunk)))
        (br $more))))

  ;; stdout (1) and stderr (2); EBADF for other descriptors.
  (func (export "fd_write") (param $fd i32) (param $iovs i32) (param $n i32) (param $written i32) (result i32)
    (local $stream i32)
    (local $total i32)
    (if (i32.eq (local.get $fd) (i32.const 1))
      (then
        (if (i32.lt_s (global.get $stdout) (i32.const 0))
          (then (global.set $stdout (call $get_stdout))))
        (local.set $stream (global.get $stdout)))
      (else
        (if (i32.ne (local.get $fd) (i32.const 2))
          (then (return (i32.const 8))))
        (if (i32.lt_s (global.get $stderr) (i32.const 0))
          (then (global.set $stderr (call $get_stderr))))
        (local.set $stream (global.get $stderr))))
    ;; An iovec is 8 bytes: an address, then a length.
    (block $done
      (loop $each
        (br_if $done (i32.eqz (local.get $n)))
        (call $write (local.get $stream) (i32.load (local.get $iovs)) (i32.load offset=4 (local.get $iovs)))
        (local.set $total (i32.add (local.get $total) (i32.load offset=4 (local.get $iovs))))
        (local.set $iovs (i32.add (local.get $iovs) (i32.const 8)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $each)))
    (i32.store (local.get $written) (local.get $total))
    (i32.const 0))

  ;; Descriptors 0 to 2 are character devices; there are no others.
  (func $std (param $fd i32) (result i32)
    (i32.lt_u (local.get $fd) (i32.const 3)))

  ;; An fdstat is 24 bytes: file type (2, character device), flags at 2,
  ;; rights at 8 and 16.
  (func (export "fd_fdstat_get") (param $fd i32) (param $stat i32) (result i32)
    (if (i32.eqz (call $std (local.get $fd)))
      (then (return (i32.const 8))))
    (i64.store (local.get $stat) (i64.const 2))
    (i64.store offset=8 (local.get $stat) (i64.const -1))
    (i64.store offset=16 (local.get $stat) (i64.const -1))
    (i32.const 0))
  (func (export "fd_fdstat_set_flags") (param $fd i32) (param i32) (result i32)
    (select (i32.const 0) (i32.const 8) (call $std (local.get $fd))))
  (func (export "fd_close") (param $fd i32) (result i32)
    (select (i32.const 0) (i32.const 8) (call $std (local.get $fd))))
  (func (export "clock_res_get") (param $id i32) (param $res i32) (result i32)
    (if (i32.gt_u (local.get $id) (i32.const 1))
      (then (return (i32.const 28))))
    (i64.store (local.get $res) (i64.const 1))
    (i32.const 0))

  ;; No preopened directories, so no paths; reads find nothing.
  (func (export "fd_prestat_get") (param i32 i32) (result i32) (i32.const 8))
  (func (export "fd_prestat_dir_name") (param i32 i32 i32) (result i32) (i32.const 8))
  (func (export "fd_read") (param i32 i32 i32 i32) (result i32) (i32.const 8))
  (func (export "fd_pread") (param i32 i32 i32 i64 i32) (result i32) (i32.const 8))
  (func (export "fd_pwrite") (param i32 i32 i32 i64 i32) (result i32) (i32.const 8))
  (func (export "fd_seek") (param i32 i64 i32 i32) (result i32) (i32.const 8))
  (func (export "fd_tell") (param i32 i32) (result i32) (i32.const 8))
  (func (export "fd_sync") (param i32) (result i32) (i32.const 8))
  (func (export "fd_datasync") (param i32) (result i32) (i32.const 8))
  (func (export "fd_advise") (param i32 i64 i64 i32) (result i32) (i32.const 8))
  (func (export "fd_allocate") (param i32 i64 i64) (result i32) (i32.const 8))
  (func (export "fd_fdstat_set_rights") (param i32 i64 i64) (result i32) (i32.const 8))
  (func (export "fd_filestat_get") (param i32 i32) (result i32) (i32.const 8))
  (func (export "fd_filestat_set_size") (param i32 i64) (result i32) (i32.const 8))
  (func (export "fd_filestat_set_times") (param i32 i64 i64 i32) (result i32) (i32.const 8))
  (func (export "fd_readdir") (param i32 i32 i32 i64 i32) (result i32) (i32.const 8))
  (func (export "fd_renumber") (param i32 i32) (result i32) (i32.const 8))
  (func (export "path_create_directory") (param i32 i32 i32) (result i32) (i32.const 76))
  (func (export "path_filestat_get") (param i32 i32 i32 i32 i32) (result i32) (i32.const 76))
  (func (export "path_filestat_set_times") (param i32 i32 i32 i32 i64 i64 i32) (result i32) (i32.const 76))
  (func (export "path_link") (param i32 i32 i32 i32 i32 i32 i32) (result i32) (i32.const 76))
  (func (export "path_open") (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32) (i32.const 76))
  (func (export "path_readlink") (param i32 i32 i32 i32 i32 i32) (result i32) (i32.const 76))
  (func (export "path_remove_directory") (param i32 i32 i32) (result i32) (i32.const 76))
  (func (export "path_rename") (param i32 i32 i32 i32 i32 i32) (result i32) (i32.const 76))
  (func (export "path_symlink") (param i32 i32 i32 i32 i32) (result i32) (i32.const 76))
  (func (export "path_unlink_file") (param i32 i32 i32) (result i32) (i32.const 76))
  (func (export "sock_accept") (param i32 i32 i32) (result i32) (i32.const 58))
  (func (export "sock_recv") (param i32 i32 i32 i32 i32 i32) (result i32) (i32.const 58))
  (func (export "sock_send") (param i32 i32 i32 i32 i32) (result i32) (i32.const 58))
  (func (export "sock_shutdown") (param i32 i32) (result i32) (i32.const 58))
  (func (export "proc_raise") (param i32) (result i32) (i32.const 52))
)
