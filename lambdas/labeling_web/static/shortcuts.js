// work in progress (issue 9)
