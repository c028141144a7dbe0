package main

import (
	"nanoscope/analysis"
	"nanoscope/gomlxmodel/load"
	"nanoscope/report"
)

// document is the shareable report of diagnose --format md|html (drawn by package report).
func document(l *load.Loaded, setup []string, r *analysis.Report) report.Document {
	return report.Document{Title: "nanoscope diagnosis of " + l.Dir, Setup: setup, Report: r, Measurements: measurements(r, l)}
}

// measurements are the headline measurements: the claimed loss and alpha rows only for the
// ternary model (a nanoscope checkpoint).
func measurements(r *analysis.Report, l *load.Loaded) report.Table {
	return report.Measurements(r, l.Checkpoint() != nil)
}
