"""The C-API functions and data a stable-ABI (abi3) extension may import that older runtimes do not
export at all, by the CPython release that first exports them. From CPython's
Misc/stable_abi.toml ("added"), keeping only the names that did not exist before that release
(a function merely promoted into the limited API was exported earlier and loads fine there).
An abi3 module that imports one of these cannot load in an older runtime: ``undefined symbol``."""

from __future__ import annotations

NEW_IN: dict[tuple[int, int], frozenset[str]] = {
    (3, 11): frozenset(
        {
            "PyType_GetName",
            "PyType_GetQualName",
            "Py_Version",
            "PyErr_GetHandledException",
            "PyErr_SetHandledException",
        }
    ),
    (3, 12): frozenset(
        {
            "PyType_FromMetaclass",
            "PyErr_GetRaisedException",
            "PyErr_SetRaisedException",
            "PyException_GetArgs",
            "PyException_SetArgs",
            "PyObject_GetTypeData",
            "PyType_GetTypeDataSize",
        }
    ),
    (3, 13): frozenset(
        {
            "PyImport_AddModuleRef",
            "PyWeakref_GetRef",
            "PyObject_DelAttr",
            "PyObject_DelAttrString",
            "PyObject_GetOptionalAttr",
            "PyObject_GetOptionalAttrString",
            "PyMapping_GetOptionalItem",
            "PyMapping_GetOptionalItemString",
            "PyModule_Add",
            "PyDict_GetItemRef",
            "PyDict_GetItemStringRef",
            "PyLong_AsInt",
            "PyObject_HasAttrWithError",
            "PyObject_HasAttrStringWithError",
            "PyMapping_HasKeyWithError",
            "PyMapping_HasKeyStringWithError",
            "Py_IsFinalizing",
            "PyUnicode_EqualToUTF8",
            "PyUnicode_EqualToUTF8AndSize",
            "PySys_AuditTuple",
            "_Py_SetRefcnt",
            "PyList_GetItemRef",
            "PyType_GetFullyQualifiedName",
            "PyType_GetModuleName",
            "Py_GetConstant",
            "Py_GetConstantBorrowed",
            "PyEval_GetFrameBuiltins",
            "PyEval_GetFrameGlobals",
            "PyEval_GetFrameLocals",
        }
    ),
    (3, 14): frozenset(
        {
            "Py_TYPE",
            "Py_REFCNT",
            "PyIter_NextItem",
            "PyLong_FromInt32",
            "PyLong_FromUInt32",
            "PyLong_AsInt32",
            "PyLong_AsUInt32",
            "PyLong_FromInt64",
            "PyLong_FromUInt64",
            "PyLong_AsInt64",
            "PyLong_AsUInt64",
            "PyType_GetBaseByToken",
            "PyUnicode_Equal",
            "PyType_Freeze",
            "Py_PACK_FULL_VERSION",
            "Py_PACK_VERSION",
        }
    ),
    (3, 15): frozenset(
        {
            "PySys_GetAttr",
            "PySys_GetAttrString",
            "PySys_GetOptionalAttr",
            "PySys_GetOptionalAttrString",
            "PyABIInfo_Check",
            "PyModule_FromSlotsAndSpec",
            "PyModule_Exec",
            "PyModule_GetToken",
            "PyType_GetModuleByToken",
            "PyModule_GetStateSize",
            "PyDict_SetDefaultRef",
            "Py_SIZE",
            "Py_IS_TYPE",
            "Py_SET_SIZE",
        }
    ),
}

ADDED: dict[str, tuple[int, int]] = {name: v for v, names in NEW_IN.items() for name in names}


def newest_needed(symbols: tuple[str, ...]) -> tuple[tuple[int, int], list[str]] | None:
    """The newest CPython release the imported symbols need, and those symbols; None if every
    one of them is exported by 3.10."""
    versions = {s: ADDED[s] for s in symbols if s in ADDED}
    if not versions:
        return None
    newest = max(versions.values())
    return newest, sorted(s for s, v in versions.items() if v == newest)
