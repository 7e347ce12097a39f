"""Every tested ca1 feature on the built-in tree (passive, f-I, bAP, attenuation; --fast).
The test is test_validation.py's, in a module of its own so that `make test` (whole modules
per test process) runs it beside the l5pc one."""
from test_validation import builtin_feature_test

test_builtin_feature = builtin_feature_test("ca1")
