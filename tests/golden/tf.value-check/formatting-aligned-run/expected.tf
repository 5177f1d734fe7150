resource "aws_instance" "web" {
  ami           = "ami-123"
  instance_type = "t3.micro"

  tags = {
    Name = "web"
  }
  vpc_security_group_ids = ["sg-123"] # web tier
  subnet_id              = "subnet-1"
  monitoring             = true
}
