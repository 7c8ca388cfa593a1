// SPDX-License-Identifier: MIT
package saq_test

import "runtime"

func goroutines() int { return runtime.NumGoroutine() }

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
