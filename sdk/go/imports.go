package wasmtrace

// The host's functions, as the canonical ABI flattens them: strings and
// lists are (address, length) pairs, an option<u32> is (set, value), and a
// result too large for one value is written where the last argument points.

//go:wasmimport wasmtrace:plugin/maps@0.2.0 [constructor]counter
func hostCounterNew(name, nameLen, labels, labelsLen uint32) uint32

//go:wasmimport wasmtrace:plugin/maps@0.2.0 [method]counter.add-many
func hostCounterAddMany(counter, updates, n uint32)

//go:wasmimport wasmtrace:plugin/maps@0.2.0 [constructor]log2-histogram
func hostHistogramNew(name, nameLen, labels, labelsLen uint32) uint32

//go:wasmimport wasmtrace:plugin/maps@0.2.0 [method]log2-histogram.record-many
func hostHistogramRecordMany(histogram, updates, n uint32)

//go:wasmimport wasmtrace:plugin/maps@0.2.0 [constructor]stack-counter
func hostStackCounterNew(name, nameLen, labels, labelsLen uint32) uint32

//go:wasmimport wasmtrace:plugin/maps@0.2.0 [method]stack-counter.add
func hostStackCounterAdd(counter, kernelStack, userStack, key, keyLen uint32, delta uint64)

//go:wasmimport wasmtrace:plugin/maps@0.2.0 [constructor]gauge
func hostGaugeNew(name, nameLen, labels, labelsLen uint32) uint32

//go:wasmimport wasmtrace:plugin/maps@0.2.0 [method]gauge.set
func hostGaugeSet(gauge, key, keyLen uint32, value int64)

//go:wasmimport wasmtrace:plugin/output@0.2.0 emit-finding
func hostEmitFinding(severity, rule, ruleLen, message, messageLen, fields, fieldsLen, hasEvent, event uint32)

//go:wasmimport wasmtrace:plugin/output@0.2.0 set-columns
func hostSetColumns(names, n uint32)

//go:wasmimport wasmtrace:plugin/output@0.2.0 emit-row
func hostEmitRow(values, n, hasEvent, event uint32)

//go:wasmimport wasmtrace:plugin/log@0.2.0 log
func hostLog(level, message, messageLen uint32)

//go:wasmimport wasmtrace:plugin/names@0.2.0 syscall
func hostSyscallName(id, result uint32)

//go:wasmimport wasmtrace:plugin/names@0.2.0 errno
func hostErrnoName(code, result uint32)

//go:wasmimport wasmtrace:plugin/names@0.2.0 user
func hostUserName(uid, result uint32)

//go:wasmimport wasmtrace:plugin/names@0.2.0 drop-reason
func hostDropReasonName(reason, result uint32)
