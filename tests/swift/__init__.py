"""A package, so that its modules (`swift.harness`, `swift.test_harness`) do not collide with
the Keystone harness's modules of the same names."""
