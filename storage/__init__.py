"""The ground floor: where a sweep's files live (a folder or a bucket) and what each file is called."""
