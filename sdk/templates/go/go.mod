module {{name}}

go 1.24

require wasmtrace.dev/sdk v0.0.0

// The SDK that `wasmtrace new-plugin` put beside this file.
replace wasmtrace.dev/sdk => ./sdk
