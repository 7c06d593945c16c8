package wasmtrace

import (
	"fmt"
	"math"
	"strings"
)

// Config is the [plugin.NAME.config] table of wasmtrace's config file.
type Config struct {
	entries []configEntry
}

type configEntry struct {
	key   string
	value any // bool, int64, float64, string or []string
}

func (c Config) get(key string) (any, bool) {
	for _, e := range c.entries {
		if e.key == key {
			return e.value, true
		}
	}
	return nil, false
}

// configValue returns key's value, fallback when it is absent, or an error
// naming the key when it has another type.
func configValue[T any](c Config, key string, fallback T, want string) (T, error) {
	v, ok := c.get(key)
	if !ok {
		return fallback, nil
	}
	t, ok := v.(T)
	if !ok {
		return fallback, fmt.Errorf("config key `%s` must be %s", key, want)
	}
	return t, nil
}

// Text is a string value.
func (c Config) Text(key, fallback string) (string, error) {
	return configValue(c, key, fallback, "a string")
}

// Integer is an integer value.
func (c Config) Integer(key string, fallback int64) (int64, error) {
	return configValue(c, key, fallback, "an integer")
}

// Float is a number value (an integer is taken too).
func (c Config) Float(key string, fallback float64) (float64, error) {
	if n, ok := c.get(key); ok {
		if n, ok := n.(int64); ok {
			return float64(n), nil
		}
	}
	return configValue(c, key, fallback, "a number")
}

// Boolean is a true or false value.
func (c Config) Boolean(key string, fallback bool) (bool, error) {
	return configValue(c, key, fallback, "true or false")
}

// Texts is a list of strings.
func (c Config) Texts(key string, fallback []string) ([]string, error) {
	return configValue(c, key, fallback, "a list of strings")
}

// liftConfig reads list<tuple<string, config-value>>: 24 bytes per entry,
// the key, then the variant's case at 8 and its payload at 16. Strings are
// copied: a plugin keeps its config.
func liftConfig(addr, n uint32) Config {
	c := Config{entries: make([]configEntry, n)}
	for i := range n {
		e := addr + 24*i
		var v any
		switch u8At(e + 8) {
		case 0:
			v = u8At(e+16) != 0
		case 1:
			v = int64(u64At(e + 16))
		case 2:
			v = math.Float64frombits(u64At(e + 16))
		case 3:
			v = strings.Clone(stringAt(e + 16))
		case 4:
			texts := listAt[abiList](e + 16)
			list := make([]string, len(texts))
			for j := range texts {
				list[j] = strings.Clone(stringAt(addrOf(&texts[j])))
			}
			v = list
		}
		c.entries[i] = configEntry{strings.Clone(stringAt(e)), v}
	}
	return c
}
