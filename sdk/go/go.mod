module wasmtrace.dev/sdk

go 1.24
