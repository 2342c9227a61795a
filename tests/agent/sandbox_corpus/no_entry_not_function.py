# expect: no_entry
execute_command = 42
