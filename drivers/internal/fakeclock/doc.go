// Package fakeclock is a manual clock for the drivers' tests: After advances
// time instead of sleeping, so paced sources can be tested without waiting.
package fakeclock
