package models

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The settled set remembers the last max ids added, each once, and forgets the oldest.
func TestSettledItemsRemembersTheLatestAndForgetsTheOldest(t *testing.T) {
	s := newSettledItems(3)
	require.False(t, s.has("a"))
	s.add([]string{"a", "b", "a"}) // a twice: remembered once
	require.True(t, s.has("a"))
	require.True(t, s.has("b"))
	s.add([]string{"c", "d"}) // four distinct ids in a set of three: a goes
	require.False(t, s.has("a"), "the oldest is forgotten")
	for _, id := range []string{"b", "c", "d"} {
		require.True(t, s.has(id), id)
	}
	for i := range 10 {
		s.add([]string{fmt.Sprint(i)})
	}
	require.Len(t, s.ids, 3, "never more than max")
	require.True(t, s.has("9"))
	require.False(t, s.has("6"))

	var none *settledItems // a store that never opened one remembers nothing
	none.add([]string{"x"})
	require.False(t, none.has("x"))
}
