"""Generated protobuf and gRPC stubs for the consentry.v1 API.

Generated from proto/ by `make proto`; never edit by hand. CI regenerates them and fails on
any difference.
"""
