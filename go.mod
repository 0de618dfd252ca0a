module twincap

go 1.26
