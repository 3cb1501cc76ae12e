package storage

// Modify is one change of a write batch: a Put or a Delete.
type Modify struct {
	Data interface{}
}

// Put sets Key to Value in column family Cf.
type Put struct {
	Key   []byte
	Value []byte
	Cf    string
}

// Delete removes Key from column family Cf.
type Delete struct {
	Key []byte
	Cf  string
}

// Key is the key the modification changes.
func (m *Modify) Key() []byte {
	switch data := m.Data.(type) {
	case Put:
		return data.Key
	case Delete:
		return data.Key
	}
	return nil
}

// Value is the value a Put writes, nil for a Delete.
func (m *Modify) Value() []byte {
	if put, ok := m.Data.(Put); ok {
		return put.Value
	}
	return nil
}

// Cf is the column family the modification changes.
func (m *Modify) Cf() string {
	switch data := m.Data.(type) {
	case Put:
		return data.Cf
	case Delete:
		return data.Cf
	}
	return ""
}
