#!@PLUGVISOR_PYTHON_SHEBANG@
# bench hello (Python): the cold-start floor of a Python plugin. The same
# interpreter and #! line as the plugin launcher; prints one line and exits.
print('{"hello":1}')
