"""Import of spreadsheets, old CRM exports and vCards into any record type: a background job with a
dry run, progress and undo; and the full export that loads back."""
