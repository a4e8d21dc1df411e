"""Shared helpers of the test suite (not tests themselves: no file here is named test_*)."""
