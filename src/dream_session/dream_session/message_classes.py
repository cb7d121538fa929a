"""Message classes by type name (``pkg/msg/Type``), as rosidl_runtime_py would give them.

rosidl_runtime_py has no PyPI wheel, so the recorder and replay look classes up here.
"""
import importlib


def message_class(msgtype):
    package, kind, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.{kind}'), name)
