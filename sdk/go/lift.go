package wasmtrace

// Reading a batch as the host lays it out (the canonical ABI): a record's
// fields in order, each at the next multiple of its own size.

// cursor walks a record's fields.
type cursor uint32

func (c *cursor) align(to uint32) uint32 {
	a := (uint32(*c) + to - 1) &^ (to - 1)
	*c = cursor(a)
	return a
}

func (c *cursor) take(size uint32) uint32 {
	a := c.align(size)
	*c = cursor(a + size)
	return a
}

func (c *cursor) u8() uint8   { return u8At(c.take(1)) }
func (c *cursor) bool() bool  { return c.u8() != 0 }
func (c *cursor) u16() uint16 { return u16At(c.take(2)) }
func (c *cursor) u32() uint32 { return u32At(c.take(4)) }
func (c *cursor) s32() int32  { return int32(c.u32()) }
func (c *cursor) u64() uint64 { return u64At(c.take(8)) }
func (c *cursor) s64() int64  { return int64(c.u64()) }

func (c *cursor) text() Text { return Text{Start: c.u32(), Len: c.u32()} }

func (c *cursor) texts() []Text {
	a := c.take(4)
	c.take(4)
	return listAt[Text](a)
}

// A body is the variant's case (a byte), then its record at offset 8 (the
// largest alignment of any case): 64 bytes, for the largest records
// (memory.oom-kill, net.tcp.life) take 56.
const bodySize = 64

// liftContainers reads list<container>: 56 bytes each (the runtime, three
// strings, then option<pod> at 28 with the pod's three strings at 32).
func liftContainers(addr uint32) []Container {
	n := u32At(addr + 4)
	out := make([]Container, n)
	base := u32At(addr)
	for i := range n {
		c := base + 56*i
		out[i] = Container{Runtime: Runtime(u8At(c)), ID: stringAt(c + 4), Name: stringAt(c + 12), Image: stringAt(c + 20)}
		if u8At(c+28) != 0 {
			out[i].Pod = &Pod{Namespace: stringAt(c + 32), Name: stringAt(c + 40), Container: stringAt(c + 48)}
		}
	}
	return out
}
