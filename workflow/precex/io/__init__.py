"""Reading and writing files: tables, atomic writes, the patient sheet, config."""
