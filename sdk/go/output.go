package wasmtrace

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
)

// What a plugin shows besides its maps: live rows, findings and log lines.

// Severity of a finding.
type Severity uint8

const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

// Level of a log line.
type Level uint8

const (
	LevelDebug Level = iota
	LevelInfo
	LevelWarn
	LevelError
)

// Log writes a line to the operator's log.
func Log(level Level, message string) {
	m := lowerString(message)
	hostLog(uint32(level), m.addr, m.len)
	runtime.KeepAlive(message)
}

// Logf formats a line for the operator's log.
func Logf(level Level, format string, args ...any) {
	Log(level, fmt.Sprintf(format, args...))
}

// SetColumns names the live rows' columns: text output prints them as a
// header, JSON output uses them as keys.
func SetColumns(names ...string) {
	parts := lowerStrings(names)
	l := lowerList(parts)
	hostSetColumns(l.addr, l.len)
	runtime.KeepAlive(names)
	runtime.KeepAlive(parts)
}

// EmitRow prints one live row (like a bpftrace printf line), values in
// column order: strings, integers, floats and booleans; anything else as
// fmt.Sprint shows it.
func EmitRow(values ...any) {
	lowered := make([]abiValue, len(values))
	texts := make([]string, len(values))
	for i, v := range values {
		lowered[i], texts[i] = lowerValue(v)
	}
	l := lowerList(lowered)
	set, event := lowerOption(current)
	hostEmitRow(l.addr, l.len, set, event)
	runtime.KeepAlive(lowered)
	runtime.KeepAlive(texts)
}

// Finding is a detection: what a rule found, with the facts behind it.
// Emitted while handling an event, it is about that event, and the host
// adds the event's container.
type Finding struct {
	severity Severity
	rule     string
	message  string
	names    []string
	values   []any
}

// NewFinding starts a finding of rule (a short stable id such as
// "shell-from-network-service").
func NewFinding(severity Severity, rule, message string) *Finding {
	return &Finding{severity: severity, rule: rule, message: message}
}

// Field adds a fact, as EmitRow takes values.
func (f *Finding) Field(name string, value any) *Finding {
	f.names = append(f.names, name)
	f.values = append(f.values, value)
	return f
}

// A field as tuple<string, value> lays it out.
type abiField struct {
	name  abiList
	value abiValue
}

// Emit sends the finding to the host.
func (f *Finding) Emit() {
	fields := make([]abiField, len(f.names))
	texts := make([]string, len(f.names))
	for i, name := range f.names {
		fields[i].name = lowerString(name)
		fields[i].value, texts[i] = lowerValue(f.values[i])
	}
	rule, message, l := lowerString(f.rule), lowerString(f.message), lowerList(fields)
	set, event := lowerOption(current)
	hostEmitFinding(uint32(f.severity), rule.addr, rule.len, message.addr, message.len, l.addr, l.len, set, event)
	runtime.KeepAlive(f)
	runtime.KeepAlive(fields)
	runtime.KeepAlive(texts)
}

// A value as the variant `value` lays it out: its case, then at offset 8
// its payload (a string as address and length).
type abiValue struct {
	tag     uint8
	_       [7]byte
	payload uint64
}

const (
	valueText = iota
	valueInt
	valueUint
	valueFloat
	valueBoolean
)

// lowerValue lowers v, and returns the string the value points at (which
// the caller keeps alive), if it is one.
func lowerValue(v any) (abiValue, string) {
	switch v := v.(type) {
	case string:
		return textValue(v), v
	case fmt.Stringer:
		s := v.String()
		return textValue(s), s
	}
	// Any integer, float or boolean type, named ones too.
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return abiValue{tag: valueInt, payload: uint64(r.Int())}, ""
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return abiValue{tag: valueUint, payload: r.Uint()}, ""
	case reflect.Float32, reflect.Float64:
		return abiValue{tag: valueFloat, payload: math.Float64bits(r.Float())}, ""
	case reflect.Bool:
		var b uint64
		if r.Bool() {
			b = 1
		}
		return abiValue{tag: valueBoolean, payload: b}, ""
	}
	s := fmt.Sprint(v)
	return textValue(s), s
}

func textValue(s string) abiValue {
	l := lowerString(s)
	return abiValue{tag: valueText, payload: uint64(l.addr) | uint64(l.len)<<32}
}
