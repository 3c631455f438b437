package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// SnapshotCollector turns one component's Stats() snapshot into metrics:
// at each scrape it calls the snapshot function once and derives every
// metric from that one value, so related numbers are consistent with each
// other and the component keeps nothing but its atomics. Build it with
// NewSnapshotCollector and register it on Server.Registry().
//
// For a single number, prometheus.NewCounterFunc and NewGaugeFunc do the
// same job; SnapshotCollector is for a Stats struct with many fields or
// per-procedure arrays.
//
//	reg.MustRegister(metrics.NewSnapshotCollector(srv.Stats,
//		metrics.Gauge("nfscacheproxy_connections", "Open client connections.",
//			func(s proxy.Stats) float64 { return float64(s.Connections) }),
//		metrics.CounterVec("nfscacheproxy_requests_total", "NFS requests by procedure.", []string{"proc"},
//			func(s proxy.Stats, emit func(float64, ...string)) {
//				for i, n := range s.Calls {
//					emit(float64(n), procName(i))
//				}
//			}),
//	))
type SnapshotCollector[T any] struct {
	snapshot func() T
	metrics  []SnapshotMetric[T]
}

// SnapshotMetric is one metric derived from a snapshot of type T; make it
// with Counter, Gauge, CounterVec or GaugeVec.
type SnapshotMetric[T any] struct {
	desc    *prometheus.Desc
	typ     prometheus.ValueType
	collect func(s T, emit func(v float64, labelValues ...string))
}

var _ prometheus.Collector = (*SnapshotCollector[struct{}])(nil)

// NewSnapshotCollector returns a collector calling snapshot once per scrape.
func NewSnapshotCollector[T any](snapshot func() T, metrics ...SnapshotMetric[T]) *SnapshotCollector[T] {
	return &SnapshotCollector[T]{snapshot: snapshot, metrics: metrics}
}

// Counter is a cumulative value read from the snapshot.
func Counter[T any](name, help string, value func(T) float64) SnapshotMetric[T] {
	return scalar(name, help, prometheus.CounterValue, value)
}

// Gauge is a current value read from the snapshot.
func Gauge[T any](name, help string, value func(T) float64) SnapshotMetric[T] {
	return scalar(name, help, prometheus.GaugeValue, value)
}

// CounterVec is a family of cumulative values: each calls emit once per
// series with the label values in the order of labels.
func CounterVec[T any](name, help string, labels []string, each func(s T, emit func(v float64, labelValues ...string))) SnapshotMetric[T] {
	return SnapshotMetric[T]{desc: prometheus.NewDesc(name, help, labels, nil), typ: prometheus.CounterValue, collect: each}
}

// GaugeVec is a family of current values; see CounterVec.
func GaugeVec[T any](name, help string, labels []string, each func(s T, emit func(v float64, labelValues ...string))) SnapshotMetric[T] {
	return SnapshotMetric[T]{desc: prometheus.NewDesc(name, help, labels, nil), typ: prometheus.GaugeValue, collect: each}
}

func scalar[T any](name, help string, typ prometheus.ValueType, value func(T) float64) SnapshotMetric[T] {
	return SnapshotMetric[T]{
		desc: prometheus.NewDesc(name, help, nil, nil),
		typ:  typ,
		collect: func(s T, emit func(float64, ...string)) {
			emit(value(s))
		},
	}
}

// Describe implements prometheus.Collector.
func (c *SnapshotCollector[T]) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *SnapshotCollector[T]) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	for _, m := range c.metrics {
		m.collect(s, func(v float64, labelValues ...string) {
			pm, err := prometheus.NewConstMetric(m.desc, m.typ, v, labelValues...)
			if err != nil {
				pm = prometheus.NewInvalidMetric(m.desc, err)
			}
			ch <- pm
		})
	}
}
