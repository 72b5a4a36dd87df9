package cloudmc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreatedTime(t *testing.T) {
	edt := time.FixedZone("EDT", -4*3600)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2017-12-21 4:41:33 PM Z", time.Date(2017, 12, 21, 16, 41, 33, 0, time.UTC)},
		{"2016-10-24 2:40:29 PM EDT", time.Date(2016, 10, 24, 14, 40, 29, 0, edt)},
		{"2016-10-24 2:40:29 AM est", time.Date(2016, 10, 24, 7, 40, 29, 0, time.UTC)},
		{"2016-10-24 12:00:00 AM UTC", time.Date(2016, 10, 24, 0, 0, 0, 0, time.UTC)},
		{"2016-10-24 02:40:29 PM -0400", time.Date(2016, 10, 24, 18, 40, 29, 0, time.UTC)},
		{"2016-10-24 14:40:29 +02:00", time.Date(2016, 10, 24, 12, 40, 29, 0, time.UTC)},
		{"2021-04-20T20:58:59.952881-04:00", time.Date(2021, 4, 21, 0, 58, 59, 952881000, time.UTC)},
		{"2021-04-20T20:58:59Z", time.Date(2021, 4, 20, 20, 58, 59, 0, time.UTC)},
		{"  2017-12-21 4:41:33 PM Z  ", time.Date(2017, 12, 21, 16, 41, 33, 0, time.UTC)},
		{"2017-12-21 4:41:33 pm z", time.Date(2017, 12, 21, 16, 41, 33, 0, time.UTC)},
		{"2016-10-24t14:40:29z", time.Date(2016, 10, 24, 14, 40, 29, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := Iso{Created: tt.in}.CreatedTime()
		require.NoError(t, err, tt.in)
		assert.True(t, tt.want.Equal(got), "%q: got %s want %s", tt.in, got, tt.want)
	}
	for _, bad := range []string{"", "yesterday", "2016-10-24 2:40:29 PM XYZ", "2016-13-24 2:40:29 PM Z", "2016-10-24 2:40:29 PM"} {
		_, err := Iso{Created: bad}.CreatedTime()
		assert.Error(t, err, "%q", bad)
	}
}

func TestFlexNumbers(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{`64`, 64, true}, {`"64"`, 64, true}, {`null`, 0, true}, {`""`, 0, true}, {`" 7 "`, 7, true},
		{`9007199254740993`, 9007199254740993, true}, {`"9223372036854775807"`, 9223372036854775807, true},
		{`-5`, -5, true}, {`6.4e1`, 64, true}, {`1.5`, 0, false}, {`"x"`, 0, false},
		{`9223372036854775808`, 0, false}, {`1e19`, 0, false}, {`true`, 0, false}, {`[1]`, 0, false}, {`{}`, 0, false},
	}
	for _, tt := range tests {
		var v struct {
			N flexInt64 `json:"n"`
		}
		err := json.Unmarshal([]byte(`{"n":`+tt.in+`}`), &v)
		if tt.ok {
			require.NoError(t, err, tt.in)
			assert.Equal(t, tt.want, int64(v.N), tt.in)
		} else {
			assert.Error(t, err, tt.in)
		}
	}
}
