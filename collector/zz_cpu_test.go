package collector

import (
	"syscall"
	"testing"
	"time"
)

func zzCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func zzReportCPU(b *testing.B, start time.Duration, records int) {
	b.ReportMetric(float64(zzCPU()-start)/float64(records), "cpu-ns/rec")
}
