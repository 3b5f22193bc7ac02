"""The engine's writes, one module per seam: intake, cron, claims, call_request, answers (with answer_rows), endings.

Nothing is re-exported: callers import from the module that owns a function, so importing one seam (the dispatcher's
claims, a view's intake) never loads the others, and the import order between them stays what each module states.
"""
