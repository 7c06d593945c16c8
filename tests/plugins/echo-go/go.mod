module echo

go 1.24

require wasmtrace.dev/sdk v0.0.0

replace wasmtrace.dev/sdk => ../../../sdk/go
