package main

import (
	"context"
	"time"

	"github.com/vmtest/vmtest/runtime"
)

// coverageTimeout bounds collecting and reporting coverage at the end of
// a file's run: powering off (30 s at most per machine, all at once),
// reading the disks, lcov and genhtml.
const coverageTimeout = 10 * time.Minute

// collectCoverage makes the coverage report of a file's run, if any
// machine has coverage on, after its script: also after a failure or a
// --timeout (what ran until then is still worth seeing), not after
// Ctrl-C. ctx is the run's context without --timeout.
func collectCoverage(ctx context.Context, net *runtime.Network) error {
	ctx, cancel := context.WithTimeout(ctx, coverageTimeout)
	defer cancel()
	_, err := net.CollectCoverage(ctx)
	return err
}
