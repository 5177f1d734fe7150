# top comment
resource "aws_instance" "web" {
	ami = "ami-123" // ami
	/* block
	   comment */
	user_data = <<EOF
#!/bin/bash
echo hi
EOF
	instance_type="t3.micro"   # odd spacing
	monitoring    = true
}