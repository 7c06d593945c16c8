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

// liftContainers reads list<container> (records.go has the offsets).
func liftContainers(addr uint32) []Container {
	n := u32At(addr + 4)
	out := make([]Container, n)
	base := u32At(addr)
	for i := range n {
		c := base + containerSize*i
		out[i] = Container{
			Runtime: Runtime(u8At(c + containerRuntime)),
			ID:      stringAt(c + containerID),
			Name:    stringAt(c + containerName),
			Image:   stringAt(c + containerImage),
		}
		if u8At(c+containerPod) != 0 {
			p := c + containerPodValue
			out[i].Pod = &Pod{Namespace: stringAt(p + podNamespace), Name: stringAt(p + podName), Container: stringAt(p + podContainer)}
		}
	}
	return out
}
